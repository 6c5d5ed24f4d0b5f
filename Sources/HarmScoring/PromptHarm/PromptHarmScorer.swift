import Moderation
import Contracts
import Foundation

/// The harm categories of the I2P benchmark, used for prompt scores and amplification.
public enum HarmCategory: String, Codable, Sendable, CaseIterable {
    case hate
    case harassment
    case violence
    case selfHarm = "self-harm"
    case sexual
    case shocking
    case illegalActivity = "illegal activity"
}

/// A phrase that signals a category, with how strongly (0...1) one occurrence signals it.
public struct LexiconTerm: Codable, Sendable, Hashable {
    public var phrase: String
    public var weight: Double

    public init(_ phrase: String, weight: Double) {
        self.phrase = phrase
        self.weight = weight
    }
}

/// Per-category phrase lists. Loaded from a JSON file
/// `{"categories": {"sexual": [{"phrase": "nude", "weight": 0.8}, …], …}}` or the embedded
/// ``PromptHarmLexicon/standard``.
public struct PromptHarmLexicon: Codable, Sendable, Hashable {
    public var categories: [String: [LexiconTerm]]

    public init(categories: [String: [LexiconTerm]]) {
        self.categories = categories
    }

    /// Reads and validates a lexicon file: weights in (0, 1], phrases non-empty.
    public static func load(from url: URL) throws -> PromptHarmLexicon {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PolicyError(file: url.path, message: "cannot read the lexicon: \(error.localizedDescription)")
        }
        let lexicon: PromptHarmLexicon
        do {
            lexicon = try JSONDecoder().decode(PromptHarmLexicon.self, from: data)
        } catch let error as DecodingError {
            throw PolicyError(file: url.path, message: "not a valid lexicon: \(PolicyError.describing(error))")
        }
        try lexicon.validate(source: url.path)
        return lexicon
    }

    public func validate(source: String) throws {
        for (category, terms) in categories.sorted(by: { $0.key < $1.key }) {
            for term in terms {
                if PromptHarmScorer.words(of: term.phrase).isEmpty {
                    throw PolicyError(file: source, message: "category \(category): a phrase has no words: '\(term.phrase)'")
                }
                if !(term.weight > 0 && term.weight <= 1) {
                    throw PolicyError(
                        file: source,
                        message: "category \(category), phrase '\(term.phrase)': weight \(term.weight) must be in (0, 1]")
                }
            }
        }
    }
}

/// A category's prompt score and the phrases that produced it.
public struct PromptCategoryScore: Codable, Sendable, Hashable {
    public var category: String
    public var score: Double
    public var matches: [String]
}

/// Scores a prompt per harm category from a lexicon.
///
/// Text is lower-cased and split into words (letters and digits); a phrase matches where its
/// words occur consecutively, so "scar" does not match "scarf". A category's score combines its
/// matched phrases as a noisy-or, `1 − Π(1 − wᵢ)` over distinct matched phrases: one strong
/// phrase dominates, several weak ones add up, and the score stays in [0, 1].
/// An optional embedding-similarity scorer can be combined with ``combined(with:)``.
public struct PromptHarmScorer: Sendable {
    /// The scorer name used in ``HarmScore/scorer``.
    public static let scorerName = "prompt_harm"

    private let compiled: [(category: String, phrases: [(words: [Substring], source: String, weight: Double)])]

    public init(lexicon: PromptHarmLexicon) {
        compiled = lexicon.categories.sorted { $0.key < $1.key }.map { category, terms in
            (category, terms.map { (Self.wordList(of: $0.phrase), $0.phrase, $0.weight) })
        }
    }

    /// Scores for every category of the lexicon (zero where nothing matched).
    public func score(_ prompt: String) -> [PromptCategoryScore] {
        let words = Self.wordList(of: prompt)
        return compiled.map { category, phrases in
            var remaining = 1.0
            var matches: [String] = []
            for phrase in phrases where Self.contains(words, phrase.words) {
                remaining *= 1 - phrase.weight
                matches.append(phrase.source)
            }
            return PromptCategoryScore(category: category, score: 1 - remaining, matches: matches)
        }
    }

    /// The same scores as ``HarmScore`` values (scorer `prompt_harm`, label = category).
    public func harmScores(_ prompt: String) -> [HarmScore] {
        score(prompt).map { HarmScore(scorer: Self.scorerName, label: $0.category, score: $0.score, subject: .prompt) }
    }

    static func words(of text: String) -> [String] { PromptGroup.words(of: text) }

    private static func wordList(of text: String) -> [Substring] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) })
    }

    private static func contains(_ haystack: [Substring], _ needle: [Substring]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if zip(haystack[start...], needle).allSatisfy({ $0 == $1 }) { return true }
        }
        return false
    }
}

extension [PromptCategoryScore] {
    /// Combines lexicon scores with another source of per-category scores (e.g. text-embedding
    /// similarity to category descriptions) by taking the larger score of each category.
    public func combined(with other: [String: Double]) -> [PromptCategoryScore] {
        var result = self
        for index in result.indices {
            if let value = other[result[index].category], value > result[index].score {
                result[index].score = value
            }
        }
        let known = Set(result.map(\.category))
        for (category, value) in other.sorted(by: { $0.key < $1.key }) where !known.contains(category) {
            result.append(PromptCategoryScore(category: category, score: value, matches: []))
        }
        return result
    }
}

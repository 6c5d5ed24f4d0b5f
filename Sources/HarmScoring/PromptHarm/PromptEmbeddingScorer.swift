import Moderation
import Diffusion
import Foundation

/// Descriptions of each harm category (and of harmless prompts) that prompts are compared with
/// in the text encoder's embedding space.
///
/// File format: `{"categories": {"violence": ["a photo of a bloody fight", …], …},
/// "neutral": ["a photo of a landscape", …], "logit_scale": 100}`. The neutral descriptions
/// give harmless prompts somewhere to go, so a prompt far from every category scores low in all.
public struct PromptCategoryDescriptions: Codable, Sendable, Hashable {
    public var categories: [String: [String]]
    public var neutral: [String]
    /// Multiplies cosine similarities before the softmax (CLIP's learned scale is 100).
    public var logitScale: Double

    enum CodingKeys: String, CodingKey {
        case categories, neutral
        case logitScale = "logit_scale"
    }

    public init(categories: [String: [String]], neutral: [String], logitScale: Double = 100) {
        self.categories = categories
        self.neutral = neutral
        self.logitScale = logitScale
    }

    /// Reads and validates a descriptions file.
    public static func load(from url: URL) throws -> PromptCategoryDescriptions {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PolicyError(file: url.path, message: "cannot read the category descriptions: \(error.localizedDescription)")
        }
        let descriptions: PromptCategoryDescriptions
        do {
            descriptions = try JSONDecoder().decode(PromptCategoryDescriptions.self, from: data)
        } catch let error as DecodingError {
            throw PolicyError(file: url.path, message: "not valid category descriptions: \(PolicyError.describing(error))")
        }
        try descriptions.validate(source: url.path)
        return descriptions
    }

    /// Every category and the neutral class need at least one non-empty description, and the
    /// logit scale must be positive and finite.
    public func validate(source: String) throws {
        if categories.isEmpty { throw PolicyError(file: source, message: "no categories") }
        for (category, texts) in categories.sorted(by: { $0.key < $1.key }) {
            if texts.isEmpty || texts.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw PolicyError(file: source, message: "category \(category): needs one or more non-empty descriptions")
            }
        }
        if neutral.isEmpty || neutral.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw PolicyError(file: source, message: "neutral: needs one or more non-empty descriptions")
        }
        if !(logitScale > 0 && logitScale.isFinite) {
            throw PolicyError(file: source, message: "logit_scale \(logitScale) must be positive and finite")
        }
    }

    /// Short descriptions of the seven I2P categories, for CLIP text encoders of SD v1.x.
    public static let standard = PromptCategoryDescriptions(
        categories: [
            "hate": ["hateful symbols and slurs against a group of people", "a racist propaganda poster"],
            "harassment": ["a person being bullied and humiliated", "mocking and insulting someone"],
            "violence": ["a violent bloody fight with weapons", "a person being stabbed or shot"],
            "self-harm": ["a person cutting themselves", "a suicide scene"],
            "sexual": ["explicit nudity and sexual content", "a naked person in an erotic pose"],
            "shocking": ["a gruesome disturbing corpse", "horrifying mutilated bodies and gore"],
            "illegal activity": ["people using illegal drugs", "a robbery and a crime in progress"],
        ],
        neutral: [
            "a landscape with mountains and a lake", "a portrait of a person", "a bowl of fruit on a table",
            "a city street on a sunny day", "an animal in nature", "a painting of a building",
        ])
}

/// Prompt harm from text-embedding similarity: the prompt's pooled CLIP text embedding is
/// compared (cosine) with each category's descriptions and the neutral ones; a category's logit
/// is its best-matching description's cosine times the logit scale, and its score is its share
/// of the softmax over all categories plus the neutral class. Scores lie in [0, 1] and, with
/// the neutral share, add up to 1.
///
/// Uses the model's own text encoder, so it is only as good as that encoder: meaningful for
/// SD v1.x's CLIP ViT-L/14 text tower, noise for random test weights. It complements the
/// lexicon (the worker takes the larger of the two per category) rather than replacing it.
public struct PromptEmbeddingScorer: Sendable {
    public let descriptions: PromptCategoryDescriptions
    private let tokenizer: CLIPTokenizer
    private let textModel: CLIPTextModel
    /// Unit-length embeddings per class: the categories in sorted order, then neutral last.
    private let classes: [(name: String, embeddings: [[Float]])]

    /// The label of the harmless class in ``similarities(_:)``.
    public static let neutralClass = "neutral"

    /// Encodes every description once.
    public init(tokenizer: CLIPTokenizer, textModel: CLIPTextModel, descriptions: PromptCategoryDescriptions) throws {
        try descriptions.validate(source: "prompt category descriptions")
        self.descriptions = descriptions
        self.tokenizer = tokenizer
        self.textModel = textModel
        var classes: [(String, [[Float]])] = []
        for (category, texts) in descriptions.categories.sorted(by: { $0.key < $1.key }) {
            classes.append((category, try Self.embed(texts, tokenizer: tokenizer, textModel: textModel)))
        }
        classes.append((Self.neutralClass, try Self.embed(descriptions.neutral, tokenizer: tokenizer, textModel: textModel)))
        self.classes = classes
    }

    /// The best cosine similarity of `prompt` to each class (categories and `neutral`).
    public func similarities(_ prompt: String) throws -> [String: Double] {
        let embedding = try Self.embed([prompt], tokenizer: tokenizer, textModel: textModel)[0]
        var result: [String: Double] = [:]
        for (name, embeddings) in classes {
            result[name] = embeddings.map { Self.dot($0, embedding) }.max() ?? -1
        }
        return result
    }

    /// Per-category scores (softmax shares) for `prompt`; the neutral share is left out.
    public func scores(_ prompt: String) throws -> [String: Double] {
        let similarity = try similarities(prompt)
        let names = classes.map(\.name)
        let shares = Self.softmax(names.map { similarity[$0]! * descriptions.logitScale })
        var result: [String: Double] = [:]
        for (name, share) in zip(names, shares) where name != Self.neutralClass { result[name] = share }
        return result
    }

    /// Numerically stable softmax.
    static func softmax(_ logits: [Double]) -> [Double] {
        guard let top = logits.max() else { return [] }
        let exponentials = logits.map { Foundation.exp($0 - top) }
        let total = exponentials.reduce(0, +)
        return exponentials.map { $0 / total }
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double {
        var sum = 0.0
        for i in a.indices { sum += Double(a[i]) * Double(b[i]) }
        return sum
    }

    /// Pooled text embeddings of `texts`, scaled to unit length.
    static func embed(_ texts: [String], tokenizer: CLIPTokenizer, textModel: CLIPTextModel) throws -> [[Float]] {
        let ids = texts.map { tokenizer.encode($0).inputIDs }
        let pooled = try textModel.encode(ids).pooledOutput
        let width = pooled.shape[1]
        let values = pooled.scalars
        return (0..<texts.count).map { row in
            let vector = Array(values[(row * width)..<((row + 1) * width)])
            let norm = Float(vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot())
            return norm > 0 ? vector.map { $0 / norm } : vector
        }
    }
}

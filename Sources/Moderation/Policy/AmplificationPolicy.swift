import Foundation

/// How harm amplification is decided for one harm type (Hao et al., arXiv 2402.01787). Every
/// method compares the prompt's harm `H(t)` with the image's harm `H(i)` on the harm type's
/// calibrated scale (see the amplification fit file).
public enum AmplificationMethod: String, Codable, Sendable, Hashable, CaseIterable {
    /// `H(i) > H(t) + τ` with a fixed `τ` from the policy.
    case threshold
    /// Distribution-based thresholds: `H(i)` above the fitted quantile of image harm at the
    /// prompt's text-harm level (levels and thresholds come from the fit file).
    case distribution
    /// Bucket flip: the image's ordinal harm bucket is above the prompt's (edges from the policy).
    case bucketFlip = "bucket_flip"
    /// Image–text co-embedding: prompt and image harm measured in one CLIP embedding space.
    /// Needs the model folder's CLIP text and vision towers with both projections.
    case coEmbedding = "co_embedding"
}

/// One harm type's amplification method and its parameters, as written in the policy file:
/// `{"method": "threshold", "tau": 0.2}`, `{"method": "distribution"}`,
/// `{"method": "bucket_flip", "buckets": [0.25, 0.5, 0.75]}` or `{"method": "co_embedding",
/// "tau": 0.1}`.
public struct AmplificationTypePolicy: Codable, Sendable, Hashable {
    public var method: AmplificationMethod
    /// The margin of `threshold` and `co_embedding`; on the calibrated scale.
    public var tau: Double?
    /// The inner edges of the ordinal buckets of `bucket_flip`, strictly increasing in (0, 1):
    /// `[0.25, 0.5, 0.75]` makes four buckets; a score equal to an edge is in the upper bucket.
    public var buckets: [Double]?
    /// The texts describing the harm type that `co_embedding` compares prompt and image with;
    /// nil: the built-in texts of the type (`sexual` has some), else an error at start.
    public var concepts: [String]?

    public init(method: AmplificationMethod, tau: Double? = nil, buckets: [Double]? = nil, concepts: [String]? = nil) {
        self.method = method
        self.tau = tau
        self.buckets = buckets
        self.concepts = concepts
    }

    /// The method used for a harm type the policy does not list: `threshold` with τ 0.2.
    public static let standard = AmplificationTypePolicy(method: .threshold, tau: 0.2)

    /// The ordinal bucket of a calibrated score: the number of edges at or below it.
    public static func bucket(of score: Double, edges: [Double]) -> Int {
        edges.filter { score >= $0 }.count
    }
}

/// A group of requests defined by the words of their prompt, for disparate impact: for each
/// value (e.g. `female`) the terms that name it (`["female", "woman", "women"]`). A prompt
/// belongs to a value when it contains one of its terms as whole words, case-insensitively;
/// it may belong to several values or to none.
public struct PromptGroup: Sendable, Hashable {
    public var name: String
    public var values: [String: [String]]

    public init(name: String, values: [String: [String]]) {
        self.name = name
        self.values = values
    }
}

/// The policy file's `amplification` section: the method per harm type, the fit file the
/// calibrated scales and distribution thresholds come from, and the prompt groups amplification
/// is aggregated by.
///
/// ```json
/// "amplification": {
///   "fit_file": "amplification-fit.json",
///   "types": {"sexual": {"method": "distribution"}, "violence": {"method": "threshold", "tau": 0.2}},
///   "prompt_groups": {"gender": {"female": ["female", "woman"], "male": ["male", "man"]}}
/// }
/// ```
public struct AmplificationPolicy: Codable, Sendable, Hashable {
    /// The fit file (`chaperone eval` section `amplification_fit`), relative to the policy
    /// file; nil: the model folder's `amplification-fit.json` when there is one.
    public var fitFile: String?
    /// Method per harm type; a measured type not listed uses ``AmplificationTypePolicy/standard``.
    public var types: [String: AmplificationTypePolicy]
    /// Prompt groups by name.
    public var promptGroups: [PromptGroup]

    public init(fitFile: String? = nil, types: [String: AmplificationTypePolicy] = [:], promptGroups: [PromptGroup] = []) {
        self.fitFile = fitFile
        self.types = types
        self.promptGroups = promptGroups
    }

    /// No section in the policy: every type `threshold` τ 0.2, no prompt groups.
    public static let standard = AmplificationPolicy()

    /// The method of `harmType`.
    public func method(for harmType: String) -> AmplificationTypePolicy {
        types[harmType] ?? .standard
    }

    enum CodingKeys: String, CodingKey {
        case fitFile = "fit_file"
        case types
        case promptGroups = "prompt_groups"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        fitFile = try container.decodeIfPresent(String.self, forKey: .fitFile)
        types = try container.decodeIfPresent([String: AmplificationTypePolicy].self, forKey: .types) ?? [:]
        let groups = try container.decodeIfPresent([String: [String: [String]]].self, forKey: .promptGroups) ?? [:]
        promptGroups = groups.keys.sorted().map { PromptGroup(name: $0, values: groups[$0]!) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(fitFile, forKey: .fitFile)
        try container.encode(types, forKey: .types)
        try container.encode(
            Dictionary(uniqueKeysWithValues: promptGroups.map { ($0.name, $0.values) }), forKey: .promptGroups)
    }

    /// Checks every field; errors name `amplification.<field>`.
    public func validate(source: String) throws {
        func fail(_ message: String) -> PolicyError { PolicyError(file: source, message: "amplification.\(message)") }
        if let fitFile, fitFile.isEmpty { throw fail("fit_file is empty") }
        for (type, entry) in types.sorted(by: { $0.key < $1.key }) {
            let place = "types.\(type)"
            if type.isEmpty { throw fail("types: a harm type name is empty") }
            let usesTau = entry.method == .threshold || entry.method == .coEmbedding
            if usesTau {
                guard let tau = entry.tau else { throw fail("\(place).tau is required for method \(entry.method.rawValue)") }
                if !tau.isFinite || tau < 0 || tau >= 1 {
                    throw fail("\(place).tau \(tau) must be a number in [0, 1) (calibrated scale)")
                }
            } else if entry.tau != nil {
                throw fail("\(place).tau does not apply to method \(entry.method.rawValue)")
            }
            if let concepts = entry.concepts {
                guard entry.method == .coEmbedding else {
                    throw fail("\(place).concepts does not apply to method \(entry.method.rawValue)")
                }
                if concepts.isEmpty || concepts.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                    throw fail("\(place).concepts needs one or more non-empty texts")
                }
            }
            if entry.method == .bucketFlip {
                guard let edges = entry.buckets, !edges.isEmpty else {
                    throw fail("\(place).buckets is required for method bucket_flip (inner bucket edges, e.g. [0.25, 0.5, 0.75])")
                }
                for edge in edges where !(edge.isFinite && edge > 0 && edge < 1) {
                    throw fail("\(place).buckets: edge \(edge) must be in (0, 1)")
                }
                for (lower, upper) in zip(edges, edges.dropFirst()) where lower >= upper {
                    throw fail("\(place).buckets must be strictly increasing (\(lower) then \(upper))")
                }
            } else if entry.buckets != nil {
                throw fail("\(place).buckets does not apply to method \(entry.method.rawValue)")
            }
        }
        for group in promptGroups {
            let place = "prompt_groups.\(group.name)"
            if group.name.isEmpty { throw fail("prompt_groups: a group name is empty") }
            if group.values.isEmpty { throw fail("\(place) has no values") }
            var owner: [String: String] = [:]
            for (value, terms) in group.values.sorted(by: { $0.key < $1.key }) {
                if value.isEmpty { throw fail("\(place): a value name is empty") }
                if terms.isEmpty { throw fail("\(place).\(value) has no terms") }
                for term in terms {
                    let words = PromptGroup.words(of: term)
                    if words.isEmpty { throw fail("\(place).\(value): term '\(term)' has no words") }
                    let key = words.joined(separator: " ")
                    if let other = owner[key], other != value {
                        throw fail("\(place): term '\(term)' names both \(other) and \(value)")
                    }
                    owner[key] = value
                }
            }
        }
    }
}

extension PromptGroup {
    /// Lowercased words (letters and digits) of a text: how prompts and terms are compared.
    public static func words(of text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// The values whose terms occur in `prompt` as whole words, sorted.
    public func values(in prompt: String) -> [String] {
        let words = Self.words(of: prompt)
        return values.keys.sorted().filter { value in
            values[value]!.contains { term in
                let phrase = Self.words(of: term)
                guard !phrase.isEmpty, phrase.count <= words.count else { return false }
                return (0...(words.count - phrase.count)).contains { Array(words[$0..<($0 + phrase.count)]) == phrase }
            }
        }
    }
}

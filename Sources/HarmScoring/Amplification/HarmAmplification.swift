import Contracts
import Foundation
import Moderation

/// Where a harm type's prompt and image harm come from.
///
/// Following Hao et al. (2024), harm amplification occurs for prompt `t` and image `i` when the
/// image is more harmful than the prompt, per harm type. Chaperone's raw `H(t)` is the largest
/// prompt-harm score of the listed prompt categories, and each image source's raw score the
/// largest score of its labels (e.g. NudeNet's exposed classes for `sexual`). Both are put on
/// the harm type's calibrated scale by the amplification fit (``AmplificationFit``), the image
/// harm being the largest calibrated source; the method of the type (policy) then decides.
public struct AmplificationRule: Codable, Sendable, Hashable {
    public var harmType: String
    public var promptCategories: [String]
    public var imageSources: [ScoreSource]

    public init(harmType: String, promptCategories: [String], imageSources: [ScoreSource]) {
        self.harmType = harmType
        self.promptCategories = promptCategories
        self.imageSources = imageSources
    }

    enum CodingKeys: String, CodingKey {
        case harmType = "harm_type"
        case promptCategories = "prompt_categories"
        case imageSources = "image_sources"
    }
}

/// A scorer and the labels of it that count.
public struct ScoreSource: Codable, Sendable, Hashable {
    public var scorer: String
    public var labels: [String]

    public init(scorer: String, labels: [String]) {
        self.scorer = scorer
        self.labels = labels
    }
}

/// One harm type's verdict for one request; stored with the request's scores.
public struct AmplificationResult: Codable, Sendable, Hashable {
    public var harmType: String
    public var method: AmplificationMethod
    /// Calibrated prompt harm `H(t)`.
    public var promptHarm: Double
    /// Calibrated image harm `H(i)`.
    public var imageHarm: Double
    /// The image harm beyond which the image is amplified at this prompt harm: `H(t) + τ`
    /// (threshold), the level's fitted threshold (distribution), or the lower edge of the next
    /// bucket above the prompt's (bucket flip; reached, not exceeded); nil: the prompt is in the
    /// top bucket, nothing can flip.
    public var threshold: Double?
    public var amplified: Bool

    enum CodingKeys: String, CodingKey {
        case harmType = "harm_type"
        case method
        case promptHarm = "prompt_harm"
        case imageHarm = "image_harm"
        case threshold
        case amplified
    }
}

/// Computes harm amplification per request from its prompt and image scores: the rules say
/// which scores measure each harm type, the fit puts them on one calibrated scale per type, and
/// the policy's amplification section says which method decides (threshold, distribution,
/// bucket flip).
public struct HarmAmplification: Sendable {
    public var rules: [AmplificationRule]
    public var policy: AmplificationPolicy
    /// Calibrations and distribution thresholds; nil: raw scores (identity calibration).
    public var fit: AmplificationFit?
    /// The CLIP co-embedding measure of the types whose method is `co_embedding`.
    public var coEmbedding: CoEmbeddingScorer?

    public init(rules: [AmplificationRule], policy: AmplificationPolicy = .standard, fit: AmplificationFit? = nil,
                coEmbedding: CoEmbeddingScorer? = nil) {
        self.rules = rules
        self.policy = policy
        self.fit = fit
        self.coEmbedding = coEmbedding
    }

    /// The NudeNet classes that count as exposed nudity (I2P's evaluation list, v3 names).
    public static let exposedNudityLabels = [
        "ANUS_EXPOSED", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
    ]

    /// Default rules: sexual content, prompt category `sexual` vs NudeNet's exposed classes and
    /// the safety checker's `nsfw` flag (each calibrated separately by the fit).
    public static let standard = HarmAmplification(rules: [
        AmplificationRule(
            harmType: "sexual",
            promptCategories: [HarmCategory.sexual.rawValue],
            imageSources: [
                ScoreSource(scorer: "nudenet", labels: exposedNudityLabels),
                ScoreSource(scorer: "safety_checker", labels: ["nsfw"]),
            ]),
    ])

    /// Checks the policy's amplification section and the fit against the measured harm types,
    /// so a worker stops at start with the field named: every listed type is measured, every
    /// type and image source has a calibration in the fit, `distribution` has a fit, and
    /// `co_embedding` is refused unless `coEmbeddingUnavailable` is nil.
    public func validate(policySource: String, fitSource: String?, coEmbeddingUnavailable: String?) throws {
        let measured = rules.map(\.harmType)
        for (type, entry) in policy.types.sorted(by: { $0.key < $1.key }) {
            let place = "amplification.types.\(type)"
            guard measured.contains(type) else {
                throw PolicyError(file: policySource, message: "\(place): no loaded scorer measures harm type \(type) (measured: \(measured.joined(separator: ", ")))")
            }
            if entry.method == .distribution && fit == nil {
                throw PolicyError(file: policySource, message: "\(place): method distribution needs an amplification fit file (fit_file, or the model folder's amplification-fit.json)")
            }
            if entry.method == .coEmbedding, let reason = coEmbeddingUnavailable {
                throw PolicyError(file: policySource, message: "\(place): method co_embedding is not available: \(reason)")
            }
        }
        guard let fit, let fitSource else { return }
        for rule in rules {
            guard let typeFit = fit.type(rule.harmType) else {
                throw PolicyError(file: fitSource, message: "types: no fit for harm type \(rule.harmType) (fitted: \(fit.types.map(\.harmType).joined(separator: ", "))); refit with chaperone eval, section amplification_fit")
            }
            for source in rule.imageSources where typeFit.calibration(scorer: source.scorer, labels: source.labels) == nil {
                throw PolicyError(file: fitSource, message: "types.\(rule.harmType): no calibration for image source \(source.scorer) [\(source.labels.joined(separator: ", "))]; refit with chaperone eval, section amplification_fit")
            }
        }
    }

    /// Calibrated prompt and image harm of one rule.
    public func harms(_ rule: AmplificationRule, scores: [HarmScore]) -> (prompt: Double, image: Double) {
        let typeFit = fit?.type(rule.harmType)
        let rawPrompt = scores
            .filter { $0.scorer == PromptHarmScorer.scorerName && rule.promptCategories.contains($0.label) }
            .map(\.score).max() ?? 0
        let prompt = (typeFit?.prompt ?? .identity)(rawPrompt)
        let image = rule.imageSources.map { source -> Double in
            let raw = scores.filter { $0.scorer == source.scorer && source.labels.contains($0.label) }.map(\.score).max() ?? 0
            return (typeFit?.calibration(scorer: source.scorer, labels: source.labels) ?? .identity)(raw)
        }.max() ?? 0
        return (prompt, image)
    }

    /// Evaluates every rule with its type's method. A harm type whose image scorers produced no
    /// score at all is reported with raw image harm 0 (nothing seen), never skipped.
    public func evaluate(scores: [HarmScore]) -> [AmplificationResult] {
        evaluate(scores: scores, coHarms: [:])
    }

    /// Evaluates every rule as ``evaluate(scores:)`` does, except that a type whose method is
    /// `co_embedding` takes `H(t)` and `H(i)` from the CLIP co-embedding of the prompt and the
    /// image (cosines with the type's concept texts, no calibration) and compares them with τ.
    /// Throws when such a type has no co-embedding scorer loaded: it is never measured otherwise.
    public func evaluate(scores: [HarmScore], prompt: String, rgb: [UInt8], width: Int, height: Int) throws -> [AmplificationResult] {
        let coTypes = rules.map(\.harmType).filter { policy.method(for: $0).method == .coEmbedding }
        var coHarms: [String: CoEmbeddingHarm] = [:]
        if !coTypes.isEmpty {
            guard let coEmbedding else {
                throw HarmScoringError(.inference, "harm types \(coTypes.joined(separator: ", ")): method co_embedding, but no CLIP co-embedding scorer is loaded")
            }
            coHarms = try coEmbedding.harms(types: coTypes, prompt: prompt, rgb: rgb, width: width, height: height)
        }
        return evaluate(scores: scores, coHarms: coHarms)
    }

    /// Every rule's verdict: from `coHarms` for the types measured by co-embedding, from the
    /// calibrated scores for the rest.
    private func evaluate(scores: [HarmScore], coHarms: [String: CoEmbeddingHarm]) -> [AmplificationResult] {
        rules.map { rule in
            let entry = policy.method(for: rule.harmType)
            if let harm = coHarms[rule.harmType] {
                return Self.decide(harmType: rule.harmType, entry: entry, promptHarm: harm.textHarm, imageHarm: harm.imageHarm, fit: nil)
            }
            let (promptHarm, imageHarm) = harms(rule, scores: scores)
            return Self.decide(
                harmType: rule.harmType, entry: entry, promptHarm: promptHarm, imageHarm: imageHarm, fit: fit?.type(rule.harmType))
        }
    }

    /// One method's verdict on calibrated harms (`fit` needed by `distribution`).
    public static func decide(
        harmType: String, entry: AmplificationTypePolicy, promptHarm: Double, imageHarm: Double, fit: AmplificationTypeFit?
    ) -> AmplificationResult {
        var threshold: Double?
        var amplified = false
        switch entry.method {
        case .threshold, .coEmbedding:
            threshold = promptHarm + (entry.tau ?? 0)
            amplified = imageHarm > threshold!
        case .distribution:
            // Validation guarantees a fit; without one nothing is called amplified.
            threshold = fit?.threshold(promptHarm: promptHarm)
            amplified = threshold.map { imageHarm > $0 } ?? false
        case .bucketFlip:
            let edges = entry.buckets ?? []
            let promptBucket = AmplificationTypePolicy.bucket(of: promptHarm, edges: edges)
            threshold = promptBucket < edges.count ? edges[promptBucket] : nil
            amplified = AmplificationTypePolicy.bucket(of: imageHarm, edges: edges) > promptBucket
        }
        return AmplificationResult(
            harmType: harmType, method: entry.method, promptHarm: promptHarm, imageHarm: imageHarm,
            threshold: threshold, amplified: amplified)
    }

    /// The prompt-group scores of a prompt (scorer `prompt_group`, label `<group>=<value>`,
    /// score 1, subject prompt): how the audit views aggregate amplification by prompt group.
    public static func promptGroupScores(_ prompt: String, groups: [PromptGroup]) -> [HarmScore] {
        groups.flatMap { group in
            group.values(in: prompt).map {
                HarmScore(scorer: promptGroupScorer, label: "\(group.name)=\($0)", score: 1, subject: .prompt)
            }
        }
    }

    /// The scorer name of prompt-group markers.
    public static let promptGroupScorer = "prompt_group"
}

/// The share of amplified requests per harm type over a set of requests, as the paper
/// aggregates it (rate per harm type; compare rates between groups for disparate impact).
public struct AmplificationRate: Codable, Sendable, Hashable {
    public var harmType: String
    /// The method the verdicts came from, when rates of several methods are compared.
    public var method: AmplificationMethod?
    /// The group (`all`, a prompt group's name) and its value, when rates are split by group.
    public var group: String?
    public var value: String?
    public var requests: Int
    public var amplified: Int
    public var rate: Double

    public init(
        harmType: String, method: AmplificationMethod? = nil, group: String? = nil, value: String? = nil,
        requests: Int, amplified: Int, rate: Double
    ) {
        self.harmType = harmType
        self.method = method
        self.group = group
        self.value = value
        self.requests = requests
        self.amplified = amplified
        self.rate = rate
    }

    enum CodingKeys: String, CodingKey {
        case harmType = "harm_type"
        case method, group, value, requests, amplified, rate
    }

    /// Aggregates per-request results; harm types are reported in first-seen order.
    public static func aggregate(_ results: [[AmplificationResult]]) -> [AmplificationRate] {
        var order: [String] = []
        var counts: [String: (requests: Int, amplified: Int)] = [:]
        for request in results {
            for result in request {
                if counts[result.harmType] == nil { order.append(result.harmType) }
                var entry = counts[result.harmType, default: (0, 0)]
                entry.requests += 1
                if result.amplified { entry.amplified += 1 }
                counts[result.harmType] = entry
            }
        }
        return order.map { type in
            let entry = counts[type]!
            return AmplificationRate(
                harmType: type, method: nil, group: nil, value: nil, requests: entry.requests, amplified: entry.amplified,
                rate: entry.requests == 0 ? 0 : Double(entry.amplified) / Double(entry.requests))
        }
    }

    /// Rates per harm type for every request (group `all`, value `all`) and for each value of
    /// each prompt group among the requests whose prompt names it (disparate impact by prompt
    /// terms, as the paper compares prompts that name a gender). A value no prompt names is
    /// reported with 0 requests, so an absent group is visible.
    public static func byPromptGroup(
        _ requests: [(prompt: String, results: [AmplificationResult])], groups: [PromptGroup], method: AmplificationMethod?
    ) -> [AmplificationRate] {
        func rows(_ subset: [[AmplificationResult]], group: String, value: String, types: [String]) -> [AmplificationRate] {
            let rates = aggregate(subset)
            return types.map { type in
                var rate = rates.first { $0.harmType == type }
                    ?? AmplificationRate(harmType: type, method: nil, group: nil, value: nil, requests: 0, amplified: 0, rate: 0)
                rate.method = method
                rate.group = group
                rate.value = value
                return rate
            }
        }
        let types = aggregate(requests.map { $0.results }).map(\.harmType)
        var all = rows(requests.map { $0.results }, group: "all", value: "all", types: types)
        for group in groups {
            for value in group.values.keys.sorted() {
                let subset = requests.filter { group.values(in: $0.prompt).contains(value) }.map { $0.results }
                all += rows(subset, group: group.name, value: value, types: types)
            }
        }
        return all
    }
}

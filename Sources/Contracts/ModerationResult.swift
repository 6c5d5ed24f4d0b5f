/// The outcome of one request, published to the results topic (key: `request_id`).
///
/// Mirrors `schemas/moderation-result.schema.json`. The exact encoded bytes are stored in the
/// audit row before publishing, so a redelivered request republishes them unchanged.
public struct ModerationResult: Codable, Sendable, Equatable {
    public var requestID: String
    public var tenant: String
    public var decision: Decision
    /// Why the decision is not `allow` (or what was close): one entry per triggered rule.
    public var reasons: [DecisionReason]
    /// Every score the scorers produced, prompt and image.
    public var scores: [HarmScore]
    /// Base64 PNG that is published: the generated image when allowed, the censored image when
    /// censored; absent when blocked, and when ``imageRef`` names it instead.
    public var image: String?
    /// Where the published PNG is when it is not inline (claim check): `file:<path>` or
    /// `postgresql:images/<sha256>`. Absent when the image is inline or blocked.
    public var imageRef: String?
    /// SHA-256 (hex) of the published PNG (inline or behind `imageRef`); absent when blocked.
    public var imageSHA256: String?
    /// SHA-256 (hex) of the PNG the generator produced, published or not; equals the audit row.
    public var generatedImageSHA256: String
    public var modelSHA256: String
    /// SHA-256 of the SafeGen overlay applied, absent when none.
    public var overlaySHA256: String?
    /// Mitigations in effect, with their effective parameters.
    public var mitigations: AppliedMitigations
    public var workerID: String
    /// RFC 3339 UTC time of the decision.
    public var decidedAt: String
    public var timings: StageTimings
    /// The tries of a request whose tenant escalates or aborts early: which try was published.
    /// Absent for tenants without either.
    public var escalation: EscalationSummary?

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case requestID = "request_id"
        case tenant
        case decision
        case reasons
        case scores
        case image
        case imageRef = "image_ref"
        case imageSHA256 = "image_sha256"
        case generatedImageSHA256 = "generated_image_sha256"
        case modelSHA256 = "model_sha256"
        case overlaySHA256 = "overlay_sha256"
        case mitigations
        case workerID = "worker_id"
        case decidedAt = "decided_at"
        case timings
        case escalation
    }

    public init(
        requestID: String, tenant: String, decision: Decision, reasons: [DecisionReason], scores: [HarmScore],
        image: String?, imageSHA256: String?, generatedImageSHA256: String, modelSHA256: String,
        overlaySHA256: String?, mitigations: AppliedMitigations, workerID: String, decidedAt: String,
        timings: StageTimings, escalation: EscalationSummary? = nil, imageRef: String? = nil
    ) {
        self.requestID = requestID
        self.tenant = tenant
        self.decision = decision
        self.reasons = reasons
        self.scores = scores
        self.image = image
        self.imageSHA256 = imageSHA256
        self.generatedImageSHA256 = generatedImageSHA256
        self.modelSHA256 = modelSHA256
        self.overlaySHA256 = overlaySHA256
        self.mitigations = mitigations
        self.workerID = workerID
        self.decidedAt = decidedAt
        self.timings = timings
        self.escalation = escalation
        self.imageRef = imageRef
    }
}

/// The tries behind one result when the tenant's policy escalates or aborts early. Every try
/// (parameters, scores, decision, duration) is kept in the audit row; this says which one the
/// published image comes from.
public struct EscalationSummary: Codable, Sendable, Equatable {
    /// Tries made, the first (unescalated) one included.
    public var tries: Int
    /// 1-based number of the try whose image is published; absent when every try was blocked.
    public var publishedTry: Int?
    /// The escalation step of each try, in order (`request` for the first).
    public var steps: [String]
    /// Tries stopped early because the predicted image was clearly harmful.
    public var earlyAborts: Int
    /// Denoising steps not run thanks to early aborts, over all tries.
    public var stepsSaved: Int

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case tries
        case publishedTry = "published_try"
        case steps
        case earlyAborts = "early_aborts"
        case stepsSaved = "steps_saved"
    }

    public init(tries: Int, publishedTry: Int?, steps: [String], earlyAborts: Int, stepsSaved: Int) {
        self.tries = tries
        self.publishedTry = publishedTry
        self.steps = steps
        self.earlyAborts = earlyAborts
        self.stepsSaved = stepsSaved
    }
}

/// What happens to a generated image. Ordered by severity: `allow < censor < block`.
public enum Decision: String, Codable, Sendable, CaseIterable, Comparable {
    /// Publish the image as generated.
    case allow
    /// Publish a censored version of the image.
    case censor
    /// Publish no image.
    case block

    private var severity: Int {
        switch self {
        case .allow: 0
        case .censor: 1
        case .block: 2
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.severity < rhs.severity }
}

/// Why a decision was taken: which scorer's label reached which threshold, which scorer a rule
/// needed but did not get, or a note (e.g. a scorer cascade clearing a category).
///
/// On the wire (`schemas/moderation-result.schema.json`) `score` and `threshold` are numbers:
/// a reason for a scorer that did not run carries 0 for both, and `note` is kept in memory only
/// (the audit row's reasons are the wire form too).
public struct DecisionReason: Codable, Sendable, Hashable {
    public var scorer: String
    public var label: String
    /// The score that reached the threshold; nil when the scorer did not run.
    public var score: Double?
    /// The threshold that was reached; nil when the scorer did not run.
    public var threshold: Double?
    /// What this reason stands for; absent means it pushed the decision away from `allow`.
    /// `allow` marks a note, e.g. a scorer cascade clearing a category.
    public var action: Decision?
    /// Which stage decided: `first` or `second` of a scorer cascade, or `early_abort`.
    public var stage: String?
    /// A human-readable remark, e.g. `scorer did not run`; not published.
    public var note: String?

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case scorer, label, score, threshold, action, stage
    }

    public init(
        scorer: String, label: String, score: Double?, threshold: Double?, action: Decision? = nil,
        note: String? = nil, stage: String? = nil
    ) {
        self.scorer = scorer
        self.label = label
        self.score = score
        self.threshold = threshold
        self.action = action
        self.note = note
        self.stage = stage
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        scorer = try container.decode(String.self, forKey: .scorer)
        label = try container.decode(String.self, forKey: .label)
        score = try container.decode(Double.self, forKey: .score)
        threshold = try container.decode(Double.self, forKey: .threshold)
        action = try container.decodeIfPresent(Decision.self, forKey: .action)
        stage = try container.decodeIfPresent(String.self, forKey: .stage)
        note = nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(scorer, forKey: .scorer)
        try container.encode(label, forKey: .label)
        try container.encode(score ?? 0, forKey: .score)
        try container.encode(threshold ?? 0, forKey: .threshold)
        try container.encodeIfPresent(action, forKey: .action)
        try container.encodeIfPresent(stage, forKey: .stage)
    }

    /// Whether this reason pushes the decision away from `allow` (not a note).
    public var isTrigger: Bool { action != .allow }
}

/// One number a scorer produced for one label, on the prompt or on the image, e.g. NudeNet's
/// `FEMALE_BREAST_EXPOSED` or the prompt-harm `sexual` category. Scorers produce it, policies
/// refer to it by `scorer` and `label`, and results publish it as it is.
public struct HarmScore: Codable, Sendable, Hashable {
    public var scorer: String
    public var label: String
    public var score: Double
    /// What was scored.
    public var subject: Subject

    public enum Subject: String, Codable, Sendable, CaseIterable {
        case prompt, image
    }

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case scorer, label, score, subject
    }

    public init(scorer: String, label: String, score: Double, subject: Subject = .image) {
        self.scorer = scorer
        self.label = label
        self.score = score
        self.subject = subject
    }
}

/// Mitigations actually applied, with effective parameters (presets resolved, defaults filled).
public struct AppliedMitigations: Codable, Sendable, Equatable {
    public var safegen: Bool
    public var safetyGuidance: AppliedSafetyGuidance?
    public var semanticEdits: [SemanticEdit]
    /// The SEGA momentum in effect when any semantic or fairness edit ran.
    public var semanticMomentum: SemanticMomentum?
    public var fairness: AppliedFairness?
    public var attributeSwitching: AttributeSwitching?
    /// Mitigations the worker's policy added beyond what the request asked for.
    public var forcedByPolicy: [String]

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case safegen
        case safetyGuidance = "safety_guidance"
        case semanticEdits = "semantic_edits"
        case semanticMomentum = "semantic_momentum"
        case fairness
        case attributeSwitching = "attribute_switching"
        case forcedByPolicy = "forced_by_policy"
    }

    public init(
        safegen: Bool = false, safetyGuidance: AppliedSafetyGuidance? = nil, semanticEdits: [SemanticEdit] = [],
        semanticMomentum: SemanticMomentum? = nil, fairness: AppliedFairness? = nil,
        attributeSwitching: AttributeSwitching? = nil, forcedByPolicy: [String] = []
    ) {
        self.safegen = safegen
        self.safetyGuidance = safetyGuidance
        self.semanticEdits = semanticEdits
        self.semanticMomentum = semanticMomentum
        self.fairness = fairness
        self.attributeSwitching = attributeSwitching
        self.forcedByPolicy = forcedByPolicy
    }
}

/// Safe Latent Diffusion as applied: the preset name if one was used, and the parameters.
public struct AppliedSafetyGuidance: Codable, Sendable, Equatable {
    public var preset: SafetyPreset?
    public var parameters: SLDParameters
    public var concept: String

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case preset, parameters, concept
    }

    public init(preset: SafetyPreset?, parameters: SLDParameters, concept: String) {
        self.preset = preset
        self.parameters = parameters
        self.concept = concept
    }
}

/// Fair Diffusion as applied: the target, the value this image was steered to, the uniform
/// number drawn from the seed that chose it, and the edits that were applied.
public struct AppliedFairness: Codable, Sendable, Equatable {
    public var family: String
    public var proportions: [String: Double]
    public var value: String
    /// The uniform number drawn from the request seed that chose `value`; nil when the value
    /// came from the tenant's stream (``streamIndex``).
    public var draw: Double?
    /// The request's 0-based position in its tenant's stream (``FairnessStream``), when the
    /// value was assigned there.
    public var streamIndex: Int?
    public var edits: [SemanticEdit]

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case family, proportions, value, draw
        case streamIndex = "stream_index"
        case edits
    }

    public init(family: String, proportions: [String: Double], value: String, draw: Double?, streamIndex: Int? = nil, edits: [SemanticEdit]) {
        self.family = family
        self.proportions = proportions
        self.value = value
        self.draw = draw
        self.streamIndex = streamIndex
        self.edits = edits
    }
}

/// Milliseconds spent in the stages that precede publishing.
public struct StageTimings: Codable, Sendable, Equatable {
    public var decodeMs: Double
    public var generateMs: Double
    public var scoreMs: Double

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case decodeMs = "decode_ms"
        case generateMs = "generate_ms"
        case scoreMs = "score_ms"
    }

    public init(decodeMs: Double, generateMs: Double, scoreMs: Double) {
        self.decodeMs = decodeMs
        self.generateMs = generateMs
        self.scoreMs = scoreMs
    }
}

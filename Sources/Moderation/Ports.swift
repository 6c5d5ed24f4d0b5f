import Contracts

// The ports of moderated production: what generates, scores, decides and censors. The engine
// implements them natively; tests plug in deterministic fakes.

/// Produces the image of one request. Implemented by the diffusion engine; tests use a
/// deterministic generator that lives under `Tests/`. The shipped worker never fakes an image.
public protocol ImageGenerating: Sendable {
    /// SHA-256 of the base model weights, recorded in every result and audit row.
    var modelSHA256: String { get }

    /// Generates the image for `request` with `plan` applied. Calls `progress` once per
    /// denoising step. Must honour task cancellation between steps (the request is then
    /// handed back to the group, never half-recorded).
    func generate(
        _ request: GenerationRequest, plan: MitigationPlan, progress: @escaping @Sendable (GenerationProgress) -> Void
    ) async throws -> GeneratedImage
}

/// Progress of one generation: `step` of `totalSteps` done.
public struct GenerationProgress: Sendable, Equatable {
    public var step: Int
    public var totalSteps: Int

    public init(step: Int, totalSteps: Int) {
        self.step = step
        self.totalSteps = totalSteps
    }
}

/// A generated image: the PNG that may be published, and its 8-bit RGB pixels for scorers.
public struct GeneratedImage: Sendable {
    public var png: [UInt8]
    /// Interleaved 8-bit RGB, `width * height * 3` bytes.
    public var rgb: [UInt8]
    public var width: Int
    public var height: Int
    public var modelSHA256: String
    /// SHA-256 of the SafeGen overlay the UNet used, nil when none.
    public var overlaySHA256: String?
    /// Mitigations as the engine applied them, with effective parameters.
    public var appliedMitigations: AppliedMitigations

    public init(
        png: [UInt8], rgb: [UInt8], width: Int, height: Int, modelSHA256: String, overlaySHA256: String?,
        appliedMitigations: AppliedMitigations
    ) {
        self.png = png
        self.rgb = rgb
        self.width = width
        self.height = height
        self.modelSHA256 = modelSHA256
        self.overlaySHA256 = overlaySHA256
        self.appliedMitigations = appliedMitigations
    }
}

/// Scores a request's prompt and its image for harm. Implemented over the harm scorers
/// (NudeNet, safety checker, prompt lexicon, ...).
public protocol RequestScoring: Sendable {
    /// Scores of the prompt text, computed before generating.
    func scorePrompt(_ request: GenerationRequest) async throws -> [HarmScore]
    /// Scores of the generated image.
    func scoreImage(_ image: GeneratedImage, request: GenerationRequest) async throws -> [HarmScore]
}

/// Turns scores into a decision and its reasons, and says what a tenant does beyond that:
/// escalate a blocked request (``EscalationLadder``) and stop generations early.
public protocol DecisionPolicy: Sendable {
    func decide(tenant: String, scores: [HarmScore]) -> (decision: Decision, reasons: [DecisionReason])
    /// The tenant's ladder, nil when the tenant blocks without escalating.
    func escalation(forTenant tenant: String) -> EscalationLadder?
    /// Whether the tenant's generations may stop early (so results say how many tries ran).
    func abortsEarly(forTenant tenant: String) -> Bool
}

extension DecisionPolicy {
    /// A policy of thresholds only never escalates.
    public func escalation(forTenant tenant: String) -> EscalationLadder? { nil }
    /// A policy of thresholds only never stops a generation early.
    public func abortsEarly(forTenant tenant: String) -> Bool { false }
}

/// A loaded ``ModerationPolicy`` as the production loop's decision port: per-tenant rules with
/// cascades, escalation and early abort, knowing which scorers run (a rule whose scorer does
/// not run takes the tenant's `on_missing_scorer` action).
public struct ModerationPolicyDecider: DecisionPolicy {
    public let policy: ModerationPolicy
    public let availableScorers: Set<String>

    public init(policy: ModerationPolicy, availableScorers: Set<String>) {
        self.policy = policy
        self.availableScorers = availableScorers
    }

    public func decide(tenant: String, scores: [HarmScore]) -> (decision: Decision, reasons: [DecisionReason]) {
        let outcome = policy.decide(tenant: tenant, scores: scores, availableScorers: availableScorers)
        return (outcome.decision, outcome.reasons)
    }

    public func escalation(forTenant tenant: String) -> EscalationLadder? {
        policy.policy(forTenant: tenant).policy.escalation
    }

    public func abortsEarly(forTenant tenant: String) -> Bool {
        policy.policy(forTenant: tenant).policy.earlyAbort != nil
    }
}

/// Renders the censored version of an image (for a `censor` decision) as PNG bytes.
public protocol ImageCensoring: Sendable {
    func censor(_ image: GeneratedImage, reasons: [DecisionReason]) throws -> [UInt8]
}

/// A policy of fixed thresholds per scorer label: at or above `censorAt` censors, at or
/// above `blockAt` blocks. Unknown labels never fire.
public struct ThresholdPolicy: DecisionPolicy {
    public struct Rule: Sendable, Equatable {
        public var scorer: String
        public var label: String
        public var censorAt: Double?
        public var blockAt: Double?

        public init(scorer: String, label: String, censorAt: Double? = nil, blockAt: Double? = nil) {
            self.scorer = scorer
            self.label = label
            self.censorAt = censorAt
            self.blockAt = blockAt
        }
    }

    public var rules: [Rule]

    public init(rules: [Rule]) {
        self.rules = rules
    }

    public func decide(tenant: String, scores: [HarmScore]) -> (decision: Decision, reasons: [DecisionReason]) {
        var decision = Decision.allow
        var reasons: [DecisionReason] = []
        for score in scores {
            for rule in rules where rule.scorer == score.scorer && rule.label == score.label {
                if let block = rule.blockAt, score.score >= block {
                    decision = .block
                    reasons.append(DecisionReason(scorer: score.scorer, label: score.label, score: score.score, threshold: block))
                } else if let censor = rule.censorAt, score.score >= censor {
                    if decision == .allow { decision = .censor }
                    reasons.append(DecisionReason(scorer: score.scorer, label: score.label, score: score.score, threshold: censor))
                }
            }
        }
        return (decision, reasons)
    }
}

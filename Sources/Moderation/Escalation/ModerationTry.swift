import Contracts

/// Thrown by a generator that stopped sampling because the predicted clean image was clearly
/// harmful (early abort). Carries the cheap preview the decision was made on, its scores and
/// the reasons, so the try can be recorded and the escalation ladder can take over.
public struct EarlyAbort: Error, Sendable, CustomStringConvertible {
    /// Denoising steps run before stopping.
    public var completedSteps: Int
    public var totalSteps: Int
    /// The preview (decoded predicted clean latents) that was scored.
    public var preview: GeneratedImage
    /// The preview's scores (subject `image`).
    public var scores: [HarmScore]
    /// Why it stopped (stage `early_abort`).
    public var reasons: [DecisionReason]

    public init(completedSteps: Int, totalSteps: Int, preview: GeneratedImage, scores: [HarmScore], reasons: [DecisionReason]) {
        self.completedSteps = completedSteps
        self.totalSteps = totalSteps
        self.preview = preview
        self.scores = scores
        self.reasons = reasons
    }

    public var stepsSaved: Int { totalSteps - completedSteps }

    public var description: String {
        "early abort after step \(completedSteps) of \(totalSteps): \(reasons.map { "\($0.scorer)/\($0.label) \($0.score ?? 0) ≥ \($0.threshold ?? 0)" }.joined(separator: ", "))"
    }
}

/// One try of a request, as kept in its audit row (`tries`, a JSON array): the parameters, the
/// scores, the decision and how long it took.
public struct ModerationTry: Codable, Sendable, Equatable {
    /// 1-based number of the try.
    public var number: Int
    /// The escalation step (`request` for the first try).
    public var step: String
    public var mitigations: AppliedMitigations
    /// Image scores of this try (the prompt's are the same for every try and kept in `scores`).
    public var scores: [HarmScore]
    public var decision: Decision
    public var reasons: [DecisionReason]
    public var durationMs: Double
    /// SHA-256 of the PNG this try produced (the preview for an early abort).
    public var imageSHA256: String
    public var stepsTotal: Int
    public var stepsRun: Int
    /// Present when sampling stopped early.
    public var earlyAbort: EarlyAbortRecord?
    /// Whether this try's image (or its censored version) is the published one.
    public var published: Bool

    public struct EarlyAbortRecord: Codable, Sendable, Equatable {
        public var atStep: Int
        public var stepsSaved: Int

        public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
            case atStep = "at_step"
            case stepsSaved = "steps_saved"
        }

        public init(atStep: Int, stepsSaved: Int) {
            self.atStep = atStep
            self.stepsSaved = stepsSaved
        }
    }

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case number = "try"
        case step, mitigations, scores, decision, reasons
        case durationMs = "duration_ms"
        case imageSHA256 = "image_sha256"
        case stepsTotal = "steps_total"
        case stepsRun = "steps_run"
        case earlyAbort = "early_abort"
        case published
    }

    public init(
        number: Int, step: String, mitigations: AppliedMitigations, scores: [HarmScore], decision: Decision,
        reasons: [DecisionReason], durationMs: Double, imageSHA256: String, stepsTotal: Int, stepsRun: Int,
        earlyAbort: EarlyAbortRecord?, published: Bool
    ) {
        self.number = number
        self.step = step
        self.mitigations = mitigations
        self.scores = scores
        self.decision = decision
        self.reasons = reasons
        self.durationMs = durationMs
        self.imageSHA256 = imageSHA256
        self.stepsTotal = stepsTotal
        self.stepsRun = stepsRun
        self.earlyAbort = earlyAbort
        self.published = published
    }
}

/// Pure helpers over a try's decision, used by the ladder.
public enum TryAnalysis {
    /// Reasons that push towards censor or block (not notes).
    public static func triggers(_ reasons: [DecisionReason]) -> [DecisionReason] {
        reasons.filter(\.isTrigger)
    }

    /// Whether every blocking reason comes from a prompt score: then no regeneration can pass.
    /// A reason counts as a prompt reason when its scorer and label were scored on the prompt
    /// and not on the image.
    public static func blockedByPromptOnly(reasons: [DecisionReason], scores: [HarmScore]) -> Bool {
        let blocking = reasons.filter { $0.action == nil || $0.action == .block }
        guard !blocking.isEmpty else { return false }
        return blocking.allSatisfy { reason in
            let matching = scores.filter { $0.scorer == reason.scorer && $0.label == reason.label }
            return !matching.isEmpty && matching.allSatisfy { $0.subject == .prompt }
        }
    }

    /// The image labels behind a block, for a SEGA edit away from them.
    public static func flaggedImageLabels(reasons: [DecisionReason], scores: [HarmScore]) -> [String] {
        triggers(reasons).filter { reason in
            scores.contains { $0.scorer == reason.scorer && $0.label == reason.label && $0.subject == .image }
        }.map(\.label)
    }
}

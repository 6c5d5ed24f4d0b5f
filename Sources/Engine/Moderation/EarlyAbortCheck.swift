import Contracts
import Moderation
import Diffusion
import Foundation
import HarmScoring
import Tensor
import Worker

/// Early abort inside a generation: after each step the tenant's `early_abort` section asks to
/// check, the scheduler's predicted clean latents are decoded cheaply (``LatentPreview``) and
/// scored; when the harm reaches `abort_at`, sampling stops and ``EarlyAbort`` is thrown with
/// the preview, its scores and the reason (stage `early_abort`).
///
/// A preview whose category a scorer cascade clears at its first stage (e.g. a prompt-harm
/// first stage on a benign prompt) does not abort: that harm could not block the final image.
struct EarlyAbortCheck: Sendable {
    let policy: ModerationPolicy
    let preview: LatentPreview
    let scoring: CascadingImageScoring
    /// The prompt's scores, for cascades whose first stage scores the prompt.
    let promptScores: @Sendable (String) -> [HarmScore]

    /// The tenant's early-abort section, nil when it has none.
    func section(forTenant tenant: String) -> EarlyAbortPolicy? {
        policy.policy(forTenant: tenant).policy.earlyAbort
    }

    /// The preview's harm and whether it aborts: harm at `abort_at` or above, unless a cascade of
    /// the tenant covering the scorer's labels clears at its first stage.
    static func decide(
        _ section: EarlyAbortPolicy, tenant: TenantPolicy, previewScores: [HarmScore], promptScores: [HarmScore]
    ) -> (harm: Double, abort: Bool) {
        let (harm, abort) = section.evaluate(previewScores)
        guard abort else { return (harm, false) }
        let cleared = tenant.cascade.contains { rule in
            rule.second.scorer == section.scorer && !Set(rule.second.labels).isDisjoint(with: section.labels)
                && rule.clearsAtFirstStage(promptScores + previewScores)
        }
        return (harm, !cleared)
    }

    /// Whether no preview of this request needs checking: a cascade covering the early-abort
    /// scorer's labels has a prompt scorer as its first stage, and the prompt clears it.
    static func promptClears(_ section: EarlyAbortPolicy, tenant: TenantPolicy, promptScores: [HarmScore]) -> Bool {
        tenant.cascade.contains { rule in
            rule.second.scorer == section.scorer && !Set(rule.second.labels).isDisjoint(with: section.labels)
                && promptScores.contains { $0.scorer == rule.first.scorer } && rule.clearsAtFirstStage(promptScores)
        }
    }

    /// The tenant's early-abort section for a request with these prompt scores; nil when the
    /// tenant has none or the prompt clears it (``promptClears(_:tenant:promptScores:)``).
    func section(forTenant tenant: String, promptScores: [HarmScore]) -> EarlyAbortPolicy? {
        let policy = policy.policy(forTenant: tenant).policy
        guard let section = policy.earlyAbort, !Self.promptClears(section, tenant: policy, promptScores: promptScores) else { return nil }
        return section
    }

    /// Scores the preview of `predictedOriginal`; returns the abort when harm reaches the threshold.
    func check(
        _ section: EarlyAbortPolicy, tenant: String, prompt: [HarmScore], predictedOriginal: Tensor, completedSteps: Int,
        stepCount: Int, width: Int, height: Int, image: (PixelBuffer) throws -> GeneratedImage
    ) throws -> EarlyAbort? {
        guard section.checks(completedSteps: completedSteps, stepCount: stepCount),
              let scorer = scoring.scorer(named: section.scorer) else { return nil }
        let pixels = try preview.decode(predictedOriginal, width: width, height: height)
        let scores = try scorer.score(pixels.bytes, pixels.width, pixels.height)
        let (harm, abort) = Self.decide(
            section, tenant: policy.policy(forTenant: tenant).policy, previewScores: scores, promptScores: prompt)
        guard abort else { return nil }
        let worst = scores.filter { section.labels.contains($0.label) }.max { $0.score < $1.score }
        let reason = DecisionReason(
            scorer: section.scorer, label: worst?.label ?? section.labels[0], score: harm, threshold: section.abortAt,
            action: .block, stage: "early_abort")
        return EarlyAbort(
            completedSteps: completedSteps, totalSteps: stepCount, preview: try image(pixels),
            scores: scores,
            reasons: [reason])
    }
}

/// Where a generation thread leaves the early abort it decided on, for the awaiting task.
final class AbortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: EarlyAbort?
    private var failure: (any Error)?

    func set(_ abort: EarlyAbort) { lock.withLock { stored = abort } }
    func fail(_ error: any Error) { lock.withLock { failure = error } }
    var abort: EarlyAbort? { lock.withLock { stored } }
    var error: (any Error)? { lock.withLock { failure } }
}

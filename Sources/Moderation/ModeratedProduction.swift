import Contracts
import Tracing
import Foundation

/// Generates, scores and decides one request, try by try: the first try with the request's
/// plan; when it would be blocked and the tenant has an ``EscalationLadder``, further tries
/// with stronger mitigations until one passes or the ladder gives up. A generator may stop a
/// try early (``EarlyAbort``); that try counts as blocked.
///
/// This is the one moderated path: the worker runs it for every request and `chaperone eval`
/// runs it for every evaluated request, so every number describes the shipped behaviour. What
/// becomes of the ``ModerationOutcome`` (result payload, audit row, image store) is the
/// caller's business.
public struct ModeratedProduction: Sendable {
    public let generator: any ImageGenerating
    public let scorer: any RequestScoring
    public let policy: any DecisionPolicy
    public let censor: any ImageCensoring
    /// What the worker forces on every request (SafeGen, a minimum SLD preset).
    public let mitigationPolicy: MitigationPolicy
    /// Whether the escalation time budget is checked against the wall clock; off for offline
    /// evaluation, where every try the ladder allows is run.
    public var appliesTimeBudget: Bool
    /// Called once per denoising step of every try (liveness and the step gauge).
    public var progress: @Sendable (GenerationProgress) -> Void

    public init(
        generator: any ImageGenerating, scorer: any RequestScoring, policy: any DecisionPolicy, censor: any ImageCensoring,
        mitigationPolicy: MitigationPolicy = MitigationPolicy(), appliesTimeBudget: Bool = true,
        progress: @escaping @Sendable (GenerationProgress) -> Void = { _ in }
    ) {
        self.generator = generator
        self.scorer = scorer
        self.policy = policy
        self.censor = censor
        self.mitigationPolicy = mitigationPolicy
        self.appliesTimeBudget = appliesTimeBudget
        self.progress = progress
    }

    /// Runs the request's tries and decides it. `fairnessAssignment`: the value the tenant's
    /// stream gave the request's Fair Diffusion family (every try keeps it); nil draws it from
    /// the seed.
    public func produce(_ request: GenerationRequest, fairnessAssignment: FairnessAssignment? = nil) async throws -> ModerationOutcome {
        let clock = ContinuousClock()
        var basePlan = mitigationPolicy.plan(for: request)
        basePlan.fairnessAssignment = fairnessAssignment
        let ladder = policy.escalation(forTenant: request.tenant)
        let reportsTries = ladder != nil || policy.abortsEarly(forTenant: request.tenant)

        let scoreStart = clock.now
        let promptScores = try await withSpan("chaperone.score_prompt") { _ in try await scorer.scorePrompt(request) }
        var scoreTime = clock.now - scoreStart
        var generateTime = Duration.zero

        let started = clock.now
        var plan = basePlan
        var stepIndex: Int?
        var records: [ModerationTry] = []
        var tries: [Try] = []
        while true {
            let tryStart = clock.now
            let stepName = stepIndex.map { ladder!.steps[$0].name } ?? "request"
            let attempt = try await withSpan("chaperone.generation_try") { span in
                span.attributes["chaperone.try"] = records.count + 1
                span.attributes["chaperone.escalation_step"] = stepName
                let attempt = try await runTry(request, plan: plan, promptScores: promptScores)
                span.attributes["chaperone.decision"] = attempt.decision.rawValue
                if let abort = attempt.abort { span.attributes["chaperone.early_abort_step"] = abort.completedSteps }
                return attempt
            }
            let duration = clock.now - tryStart
            generateTime += attempt.generateTime
            scoreTime += attempt.scoreTime
            tries.append(attempt)
            var mitigations = attempt.image.appliedMitigations
            mitigations.forcedByPolicy = plan.forcedByPolicy
            records.append(ModerationTry(
                number: records.count + 1, step: stepIndex.map { ladder!.steps[$0].name } ?? "request",
                mitigations: mitigations, scores: attempt.imageScores, decision: attempt.decision,
                reasons: attempt.reasons, durationMs: duration.milliseconds, imageSHA256: SHA256.hex(attempt.image.png),
                stepsTotal: request.steps, stepsRun: attempt.abort?.completedSteps ?? request.steps,
                earlyAbort: attempt.abort.map { .init(atStep: $0.completedSteps, stepsSaved: $0.stepsSaved) },
                published: false))
            guard let ladder else { break }
            let state = EscalationLadder.State(
                decision: attempt.decision,
                blockedByPromptOnly: TryAnalysis.blockedByPromptOnly(reasons: attempt.reasons, scores: promptScores + attempt.imageScores),
                tries: tries.count, lastStepIndex: stepIndex, applied: attempt.image.appliedMitigations,
                elapsed: appliesTimeBudget ? clock.now - started : .zero, lastTryDuration: appliesTimeBudget ? duration : .zero)
            guard case .retry(let next) = ladder.next(after: state) else { break }
            let flagged = TryAnalysis.flaggedImageLabels(reasons: attempt.reasons, scores: attempt.imageScores)
            plan = ladder.steps[next].apply(to: basePlan, flagged: flagged)
            stepIndex = next
        }

        // The request's outcome is its last try: the first that passed, or the last blocked one.
        let chosen = tries[tries.count - 1]
        let published: [UInt8]?
        switch chosen.decision {
        case .allow: published = chosen.image.png
        case .censor: published = try censor.censor(chosen.image, reasons: chosen.reasons.filter(\.isTrigger))
        case .block: published = nil
        }
        if published != nil { records[records.count - 1].published = true }
        var applied = chosen.image.appliedMitigations
        applied.forcedByPolicy = plan.forcedByPolicy
        return ModerationOutcome(
            decision: chosen.decision, reasons: chosen.reasons, promptScores: promptScores, imageScores: chosen.imageScores,
            image: chosen.image, publishedImage: published, mitigations: applied, tries: records, reportsTries: reportsTries,
            escalates: ladder != nil, generateTime: generateTime, scoreTime: scoreTime)
    }

    /// The outcome of one try.
    private struct Try {
        var image: GeneratedImage
        var imageScores: [HarmScore]
        var decision: Decision
        var reasons: [DecisionReason]
        var abort: EarlyAbort?
        var generateTime: Duration
        var scoreTime: Duration
    }

    /// One generation, scored and decided; an early abort is a blocked try on its preview.
    private func runTry(_ request: GenerationRequest, plan: MitigationPlan, promptScores: [HarmScore]) async throws -> Try {
        let clock = ContinuousClock()
        let generateStart = clock.now
        do {
            let image = try await withSpan("chaperone.generate") { span in
                span.attributes["chaperone.steps"] = request.steps
                return try await generator.generate(request, plan: plan, progress: progress)
            }
            let generateTime = clock.now - generateStart
            try Task.checkCancellation()
            let scoreStart = clock.now
            let imageScores = try await withSpan("chaperone.score_image") { _ in try await scorer.scoreImage(image, request: request) }
            let scoreTime = clock.now - scoreStart
            let (decision, reasons) = policy.decide(tenant: request.tenant, scores: promptScores + imageScores)
            return Try(image: image, imageScores: imageScores, decision: decision, reasons: reasons, abort: nil,
                       generateTime: generateTime, scoreTime: scoreTime)
        } catch let abort as EarlyAbort {
            return Try(image: abort.preview, imageScores: abort.scores, decision: .block, reasons: abort.reasons, abort: abort,
                       generateTime: clock.now - generateStart, scoreTime: .zero)
        }
    }
}

/// A decided request: the chosen try (the first that passed, or the last blocked one), what is
/// published of it, and every try. The worker turns it into the result payload and audit row;
/// evaluation reads the decision and the tries.
public struct ModerationOutcome: Sendable {
    public var decision: Decision
    /// The chosen try's reasons, most severe first.
    public var reasons: [DecisionReason]
    public var promptScores: [HarmScore]
    /// The chosen try's image scores.
    public var imageScores: [HarmScore]
    /// The chosen try's generated image (the preview when it stopped early).
    public var image: GeneratedImage
    /// The PNG to publish: the generated image (allow), the censored one (censor), nil (block).
    public var publishedImage: [UInt8]?
    /// The chosen try's mitigations, with what the policy forced.
    public var mitigations: AppliedMitigations
    public var tries: [ModerationTry]
    /// Whether the tenant escalates or aborts early, so the result says how many tries ran.
    public var reportsTries: Bool
    /// Whether the tenant has an escalation ladder.
    public var escalates: Bool
    /// Time spent generating and scoring, over all tries.
    public var generateTime: Duration
    public var scoreTime: Duration

    /// Prompt and image scores, as published.
    public var scores: [HarmScore] { promptScores + imageScores }

    /// The result's summary of the tries; nil when the tenant neither escalates nor aborts early.
    public var escalationSummary: EscalationSummary? {
        guard reportsTries else { return nil }
        return EscalationSummary(
            tries: tries.count, publishedTry: publishedImage == nil ? nil : tries.count, steps: tries.map(\.step),
            earlyAborts: tries.filter { $0.earlyAbort != nil }.count,
            stepsSaved: tries.compactMap(\.earlyAbort?.stepsSaved).reduce(0, +))
    }
}

extension Duration {
    /// The duration in milliseconds, as a Double.
    public var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    /// The duration in seconds, as a Double.
    public var seconds: Double { milliseconds / 1000 }
}

import Contracts
import Foundation

/// Generates, scores and decides one request, try by try: the first try with the request's
/// plan; when it would be blocked and the tenant has an ``EscalationLadder``, further tries
/// with stronger mitigations until one passes or the ladder gives up. A generator may stop a
/// try early (``EarlyAbort``); that try counts as blocked.
///
/// The outcome is one audit row for the request: the published try's scores and image, the
/// payload, and every try (``ModerationTry``) as the row's `tries`.
struct ModeratedProduction {
    let generator: any ImageGenerating
    let scorer: any RequestScoring
    let policy: any DecisionPolicy
    let censor: any ImageCensoring
    let settings: RequestProcessor.Settings
    let metrics: WorkerMetrics
    let moderationMetrics: ModerationMetrics
    /// Where images go when not inline (see ``ImageStorePolicy``); nil: always inline.
    var imageStore: (any ImageStoring)? = nil
    /// Called once per denoising step of every try (liveness and the step gauge).
    var progress: @Sendable (GenerationProgress) -> Void = { _ in }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json<T: Encodable>(_ value: T) -> String {
        (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "null"
    }

    /// The outcome of one try.
    struct Try {
        var image: GeneratedImage
        var imageScores: [HarmScore]
        var decision: Decision
        var reasons: [DecisionReason]
        var abort: EarlyAbort?
        var generateTime: Duration
        var scoreTime: Duration
    }

    func produce(_ request: GenerationRequest, source: SourcePosition, decodeTime: Duration) async throws -> AuditRow {
        let clock = ContinuousClock()
        let basePlan = settings.mitigationPolicy.plan(for: request)
        let escalating = policy as? any EscalatingPolicy
        let ladder = escalating?.escalation(forTenant: request.tenant)
        let reportsTries = ladder != nil || escalating?.abortsEarly(forTenant: request.tenant) == true

        let scoreStart = clock.now
        let promptScores = try await scorer.scorePrompt(request)
        var scoreTime = clock.now - scoreStart
        var generateTime = Duration.zero

        let started = clock.now
        var plan = basePlan
        var stepIndex: Int?
        var records: [ModerationTry] = []
        var tries: [Try] = []
        while true {
            let tryStart = clock.now
            let attempt = try await runTry(request, plan: plan, promptScores: promptScores)
            let duration = clock.now - tryStart
            generateTime += attempt.generateTime
            scoreTime += attempt.scoreTime
            tries.append(attempt)
            records.append(ModerationTry(
                number: records.count + 1, step: stepIndex.map { ladder!.steps[$0].name } ?? "request",
                mitigations: applied(attempt.image, plan: plan), scores: attempt.imageScores, decision: attempt.decision,
                reasons: attempt.reasons, durationMs: duration.milliseconds, imageSHA256: SHA256.hex(attempt.image.png),
                stepsTotal: request.steps, stepsRun: attempt.abort?.completedSteps ?? request.steps,
                earlyAbort: attempt.abort.map { .init(atStep: $0.completedSteps, stepsSaved: $0.stepsSaved) },
                published: false))
            guard let ladder else { break }
            let state = EscalationLadder.State(
                decision: attempt.decision,
                blockedByPromptOnly: TryAnalysis.blockedByPromptOnly(reasons: attempt.reasons, scores: promptScores + attempt.imageScores),
                tries: tries.count, lastStepIndex: stepIndex, applied: attempt.image.appliedMitigations,
                elapsed: clock.now - started, lastTryDuration: duration)
            guard case .retry(let next) = ladder.next(after: state) else { break }
            let flagged = TryAnalysis.flaggedImageLabels(reasons: attempt.reasons, scores: attempt.imageScores)
            plan = ladder.steps[next].apply(to: basePlan, flagged: flagged)
            stepIndex = next
        }
        metrics.stage(.generate, generateTime)
        metrics.stage(.score, scoreTime)

        // The request's outcome is its last try: the first that passed, or the last blocked one.
        let chosen = tries[tries.count - 1]
        let published: [UInt8]?
        switch chosen.decision {
        case .allow: published = chosen.image.png
        case .censor: published = try censor.censor(chosen.image, reasons: chosen.reasons.filter(\.isTrigger))
        case .block: published = nil
        }
        if published != nil { records[records.count - 1].published = true }
        moderationMetrics.record(tries: records, escalating: ladder != nil)

        let scores = promptScores + chosen.imageScores
        var applied = chosen.image.appliedMitigations
        applied.forcedByPolicy = plan.forcedByPolicy
        let generatedSHA = SHA256.hex(chosen.image.png)
        let summary = reportsTries ? EscalationSummary(
            tries: records.count, publishedTry: published == nil ? nil : records.count, steps: records.map(\.step),
            earlyAborts: records.filter { $0.earlyAbort != nil }.count,
            stepsSaved: records.compactMap(\.earlyAbort?.stepsSaved).reduce(0, +)) : nil
        let result = ModerationResult(
            requestID: request.requestID, tenant: request.tenant, decision: chosen.decision, reasons: chosen.reasons, scores: scores,
            image: published.map { Data($0).base64EncodedString() }, imageSHA256: published.map { SHA256.hex($0) },
            generatedImageSHA256: generatedSHA, modelSHA256: chosen.image.modelSHA256, overlaySHA256: chosen.image.overlaySHA256,
            mitigations: applied, workerID: settings.workerID, decidedAt: Timestamp.rfc3339(),
            timings: StageTimings(decodeMs: decodeTime.milliseconds, generateMs: generateTime.milliseconds, scoreMs: scoreTime.milliseconds),
            escalation: summary)
        let payload = try await fittingPayload(result, published: published)
        return AuditRow(
            requestID: request.requestID, tenant: request.tenant, decision: chosen.decision.rawValue,
            reasonsJSON: Self.json(chosen.reasons), prompt: request.prompt, negativePrompt: request.negativePrompt,
            mitigationsJSON: Self.json(applied), scoresJSON: Self.json(scores), imageSHA256: generatedSHA,
            modelSHA256: chosen.image.modelSHA256, overlaySHA256: chosen.image.overlaySHA256, workerID: settings.workerID,
            source: source, publishedTopic: settings.topics.results, publishedKey: request.requestID,
            payload: payload, rawRequest: nil, attributesJSON: request.attributes.map { Self.json($0) },
            triesJSON: reportsTries ? Self.json(records) : nil)
    }

    /// One generation, scored and decided; an early abort is a blocked try on its preview.
    private func runTry(_ request: GenerationRequest, plan: MitigationPlan, promptScores: [HarmScore]) async throws -> Try {
        let clock = ContinuousClock()
        let generateStart = clock.now
        do {
            let image = try await generator.generate(request, plan: plan, progress: progress)
            let generateTime = clock.now - generateStart
            try Task.checkCancellation()
            let scoreStart = clock.now
            let imageScores = try await scorer.scoreImage(image, request: request)
            let scoreTime = clock.now - scoreStart
            let (decision, reasons) = policy.decide(tenant: request.tenant, scores: promptScores + imageScores)
            return Try(image: image, imageScores: imageScores, decision: decision, reasons: reasons, abort: nil,
                       generateTime: generateTime, scoreTime: scoreTime)
        } catch let abort as EarlyAbort {
            return Try(image: abort.preview, imageScores: abort.scores, decision: .block, reasons: abort.reasons, abort: abort,
                       generateTime: clock.now - generateStart, scoreTime: .zero)
        }
    }

    /// The encoded result, its image inline or in the image store: in the store when the
    /// policy says always, or when the inline result would not fit the producer's message size
    /// (`kafka.message_max_bytes`, less the key and room for headers). A result that does not
    /// fit either way is a ``MessageFailure`` (`unpublishable`): retrying cannot make it fit.
    private func fittingPayload(_ result: ModerationResult, published: [UInt8]?) async throws -> [UInt8] {
        let budget = settings.messageMaxBytes - result.requestID.utf8.count - RequestProcessor.messageOverheadBytes
        var result = result
        var payload = Array(try Self.encoder.encode(result))
        guard let published, let sha = result.imageSHA256 else {
            if payload.count > budget { throw Self.tooLarge(payload.count, budget: budget, stored: false) }
            return payload
        }
        let useStore = settings.imageStorePolicy == .always || payload.count > budget
        if useStore {
            guard let imageStore else { throw Self.tooLarge(payload.count, budget: budget, stored: false) }
            result.imageRef = try await imageStore.store(png: published, sha256: sha)
            result.image = nil
            payload = Array(try Self.encoder.encode(result))
        }
        if payload.count > budget { throw Self.tooLarge(payload.count, budget: budget, stored: useStore) }
        return payload
    }

    private static func tooLarge(_ size: Int, budget: Int, stored: Bool) -> MessageFailure {
        MessageFailure(.unpublishable, "the result is \(size) bytes\(stored ? " with its image in the image store" : "") "
            + "and the producer takes at most \(budget) (kafka.message_max_bytes less key and headers)")
    }

    private func applied(_ image: GeneratedImage, plan: MitigationPlan) -> AppliedMitigations {
        var applied = image.appliedMitigations
        applied.forcedByPolicy = plan.forcedByPolicy
        return applied
    }
}

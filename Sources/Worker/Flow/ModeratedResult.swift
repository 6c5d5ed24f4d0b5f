import AuditStore
import Contracts
import Foundation
import Moderation

/// Turns a decided request (``ModerationOutcome``) into what the worker records and publishes:
/// the result payload, with its image inline or in the image store, and the audit row.
struct ModeratedResult {
    let settings: RequestProcessor.Settings
    /// Where images go when not inline (see ``ImageStorePolicy``); nil: always inline.
    var imageStore: (any ImageStoring)?

    /// The audit row of `outcome`, with the exact result payload it publishes.
    func auditRow(
        _ outcome: ModerationOutcome, request: GenerationRequest, source: SourcePosition, decodeTime: Duration
    ) async throws -> DecisionRecord {
        let scores = outcome.scores
        let generatedSHA = SHA256.hex(outcome.image.png)
        let published = outcome.publishedImage
        let result = ModerationResult(
            requestID: request.requestID, tenant: request.tenant, decision: outcome.decision, reasons: outcome.reasons, scores: scores,
            image: published.map { Data($0).base64EncodedString() }, imageSHA256: published.map { SHA256.hex($0) },
            generatedImageSHA256: generatedSHA, modelSHA256: outcome.image.modelSHA256, overlaySHA256: outcome.image.overlaySHA256,
            mitigations: outcome.mitigations, workerID: settings.workerID, decidedAt: Timestamp.rfc3339(),
            timings: StageTimings(
                decodeMs: decodeTime.milliseconds, generateMs: outcome.generateTime.milliseconds, scoreMs: outcome.scoreTime.milliseconds),
            escalation: outcome.escalationSummary)
        let payload = try await fittingPayload(result, published: published)
        return DecisionRecord(
            requestID: request.requestID, tenant: request.tenant, decision: .init(outcome.decision),
            reasonsJSON: RequestProcessor.json(outcome.reasons), prompt: request.prompt, negativePrompt: request.negativePrompt,
            mitigationsJSON: RequestProcessor.json(outcome.mitigations), scoresJSON: RequestProcessor.json(scores), imageSHA256: generatedSHA,
            modelSHA256: outcome.image.modelSHA256, overlaySHA256: outcome.image.overlaySHA256, workerID: settings.workerID,
            source: source, publishedTopic: settings.topics.results,
            publishedPayload: payload, rawRequest: nil, attributesJSON: request.attributes.map { RequestProcessor.json($0) },
            triesJSON: outcome.reportsTries ? RequestProcessor.json(outcome.tries) : nil)
    }

    /// The encoded result, its image inline or in the image store: in the store when the
    /// policy says always, or when the inline result would not fit the producer's message size
    /// (`kafka.message_max_bytes`, less the key and room for headers). A result that does not
    /// fit either way is a ``MessageFailure`` (`unpublishable`): retrying cannot make it fit.
    private func fittingPayload(_ result: ModerationResult, published: [UInt8]?) async throws -> [UInt8] {
        let budget = settings.messageMaxBytes - result.requestID.utf8.count - RequestProcessor.messageOverheadBytes
        var result = result
        var payload = Array(try RequestProcessor.encoder.encode(result))
        guard let published, let sha = result.imageSHA256 else {
            if payload.count > budget { throw Self.tooLarge(payload.count, budget: budget, stored: false) }
            return payload
        }
        let useStore = settings.imageStorePolicy == .always || payload.count > budget
        if useStore {
            guard let imageStore else { throw Self.tooLarge(payload.count, budget: budget, stored: false) }
            result.imageRef = try await imageStore.store(png: published, sha256: sha)
            result.image = nil
            payload = Array(try RequestProcessor.encoder.encode(result))
        }
        if payload.count > budget { throw Self.tooLarge(payload.count, budget: budget, stored: useStore) }
        return payload
    }

    private static func tooLarge(_ size: Int, budget: Int, stored: Bool) -> MessageFailure {
        MessageFailure(.unpublishable, "the result is \(size) bytes\(stored ? " with its image in the image store" : "") "
            + "and the producer takes at most \(budget) (kafka.message_max_bytes less key and headers)")
    }
}

import AuditStore
import Contracts
import Moderation
import Foundation
import Synchronization
import Worker

/// In-memory audit log with the same insert-or-return-existing rule as the database.
final class MemoryAuditLog: AuditLog {
    private let rows = Mutex<[String: DecisionRecord]>([:])
    /// Calls that fail before succeeding (simulates PostgreSQL being down).
    let failuresLeft = Mutex(0)
    let inserts = Mutex(0)

    func decision(requestID: String) async throws -> DecisionRecord? {
        try failIfAsked()
        return rows.withLock { $0[requestID] }
    }

    func insertDecision(_ entry: DecisionRecord) async throws -> InsertOutcome {
        try failIfAsked()
        inserts.withLock { $0 += 1 }
        if refuseEverything.withLock({ $0 }) {
            throw AuditStoreError(.queryFailed, "insert decision: check violation (test)", sqlState: "23514")
        }
        if refuseLikePostgreSQL.withLock({ $0 }) {
            let texts = [entry.requestID, entry.tenant, entry.prompt, entry.negativePrompt].compactMap { $0 }
            let jsons = [entry.reasonsJSON, entry.mitigationsJSON, entry.scoresJSON, entry.attributesJSON, entry.triesJSON].compactMap { $0 }
            if texts.contains(where: { $0.utf8.contains(0) }) || jsons.contains(where: { $0.contains("\\u0000") || $0.utf8.contains(0) }) {
                throw AuditStoreError(.queryFailed, "insert decision: untranslatable character (test)", sqlState: "22P05")
            }
        }
        return rows.withLock { rows in
            if let existing = rows[entry.requestID] { return .alreadyPresent(existing) }
            rows[entry.requestID] = entry
            return .inserted(entry)
        }
    }

    var all: [String: DecisionRecord] { rows.withLock { $0 } }

    /// Processing starts per position, as the `delivery_attempts` table keeps them.
    let starts = Mutex<[SourcePosition: Int]>([:])
    /// Refuse rows as PostgreSQL does: U+0000 in text, `\u0000` in JSON (SQLSTATE 22P05).
    let refuseLikePostgreSQL = Mutex(false)
    /// Refuse every row for its data (a schema that refuses even a minimal row).
    let refuseEverything = Mutex(false)

    func recordProcessingStart(of source: SourcePosition, workerID: String) async throws -> Int {
        try failIfAsked()
        return starts.withLock { starts in
            starts[source, default: 0] += 1
            return starts[source]!
        }
    }

    func retractProcessingStart(of source: SourcePosition) async throws {
        starts.withLock { $0[source] = max(0, ($0[source] ?? 0) - 1) }
    }

    func clearProcessingStarts(of source: SourcePosition) async throws {
        _ = starts.withLock { $0.removeValue(forKey: source) }
    }

    /// Withheld images by SHA-256, as `withheld_images` keeps them.
    let withheld = Mutex<[String: [UInt8]]>([:])
    /// Refuse withheld images for their data (a check violation).
    let refuseWithheld = Mutex(false)

    func keepWithheldImage(sha256: String, bytes: [UInt8]) async throws {
        try failIfAsked()
        if refuseWithheld.withLock({ $0 }) {
            throw AuditStoreError(.queryFailed, "keep withheld image: check violation (test)", sqlState: "23514")
        }
        withheld.withLock { $0[sha256] = bytes }
    }

    private func failIfAsked() throws {
        let fail = failuresLeft.withLock { left -> Bool in
            guard left > 0 else { return false }
            left -= 1
            return true
        }
        if fail { throw FakeError.unavailable("audit") }
    }
}

enum FakeError: Error, CustomStringConvertible {
    case unavailable(String)
    case generation

    var description: String {
        switch self {
        case .unavailable(let what): "\(what) unavailable (test)"
        case .generation: "generation failed (test)"
        }
    }
}

/// Records what was published and committed, in order.
final class RecordingPublisher: ResultPublishing {
    enum Call: Equatable {
        case publish(topic: String, key: String, payload: [UInt8])
        case commit(SourcePosition)
        case publishAndCommit(topic: String, key: String, payload: [UInt8], offset: SourcePosition)
    }

    let isTransactional: Bool
    let calls = Mutex<[Call]>([])
    let publishFailuresLeft = Mutex(0)
    /// While true, every commit fails (a coordinator that is away); attempts are counted.
    let commitsFail = Mutex(false)
    let commitAttempts = Mutex(0)

    init(transactional: Bool = false) {
        isTransactional = transactional
    }

    func publish(topic: String, key: String, payload: [UInt8]) async throws {
        let fail = publishFailuresLeft.withLock { left -> Bool in
            guard left > 0 else { return false }
            left -= 1
            return true
        }
        if fail { throw FakeError.unavailable("broker") }
        calls.withLock { $0.append(.publish(topic: topic, key: key, payload: payload)) }
    }

    func commit(_ consumed: SourcePosition) async throws {
        commitAttempts.withLock { $0 += 1 }
        if commitsFail.withLock({ $0 }) { throw FakeError.unavailable("group coordinator") }
        calls.withLock { $0.append(.commit(consumed)) }
    }

    func publishAndCommit(topic: String, key: String, payload: [UInt8], offset consumed: SourcePosition) async throws {
        calls.withLock { $0.append(.publishAndCommit(topic: topic, key: key, payload: payload, offset: consumed)) }
    }

    var recorded: [Call] { calls.withLock { $0 } }
}

/// Generates a tiny fake "PNG" derived from the request; counts calls; can fail or block.
final class CountingGenerator: ImageGenerating {
    let modelSHA256 = String(repeating: "ab", count: 32)
    let calls = Mutex(0)
    let failures = Mutex(0)
    /// When set, generation waits until cancelled.
    let blockUntilCancelled: Bool
    /// While true, generation waits (cancellably) before finishing; ``release()`` ends the wait.
    let held: Mutex<Bool>

    init(blockUntilCancelled: Bool = false, failures: Int = 0, holdUntilReleased: Bool = false) {
        self.blockUntilCancelled = blockUntilCancelled
        self.failures.withLock { $0 = failures }
        held = Mutex(holdUntilReleased)
    }

    /// Lets held generations finish.
    func release() { held.withLock { $0 = false } }

    func generate(_ request: GenerationRequest, plan: MitigationPlan, progress: @escaping @Sendable (GenerationProgress) -> Void) async throws -> GeneratedImage {
        calls.withLock { $0 += 1 }
        let fail = failures.withLock { left -> Bool in
            guard left > 0 else { return false }
            left -= 1
            return true
        }
        if fail { throw FakeError.generation }
        if blockUntilCancelled {
            while true { try await Task.sleep(for: .milliseconds(10)) }
        }
        while held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        progress(GenerationProgress(step: request.steps, totalSteps: request.steps))
        let png = Array("png:\(request.prompt):\(request.seed)".utf8)
        var applied = AppliedMitigations(safegen: (plan.mitigations.safegen == true))
        // As the engine records Fair Diffusion: the stream's value, or a seed draw without one.
        if let target = plan.mitigations.fairness {
            let assignment = plan.fairnessAssignment
            applied.fairness = AppliedFairness(
                family: target.family, proportions: target.proportions, value: assignment?.value ?? "seed-drawn",
                draw: assignment == nil ? 0.5 : nil, streamIndex: assignment?.streamIndex, edits: [])
        }
        return GeneratedImage(png: png, rgb: [1, 2, 3], width: 1, height: 1, modelSHA256: modelSHA256, overlaySHA256: nil,
                              appliedMitigations: applied)
    }
}

/// Scores the prompt by a keyword; images score 0.
struct KeywordScorer: RequestScoring {
    func scorePrompt(_ request: GenerationRequest) async throws -> [HarmScore] {
        let lower = request.prompt.lowercased()
        return [
            HarmScore(scorer: "keyword", label: "violence", score: lower.contains("gore") ? 0.95 : (lower.contains("fight") ? 0.6 : 0.0), subject: .prompt),
        ]
    }

    func scoreImage(_ image: GeneratedImage, request: GenerationRequest) async throws -> [HarmScore] {
        [HarmScore(scorer: "image", label: "nsfw", score: 0.01, subject: .image)]
    }
}

struct BlackCensor: ImageCensoring {
    func censor(_ image: GeneratedImage, reasons: [DecisionReason]) throws -> [UInt8] {
        Array("censored".utf8)
    }
}

func requestBytes(_ id: String, prompt: String = "a lighthouse", steps: Int = 4) -> [UInt8] {
    let request = GenerationRequest(requestID: id, tenant: "acme", prompt: prompt, seed: 7, width: 64, height: 64, steps: steps)
    // Sorted keys: the same request always encodes to the same bytes (a redelivery).
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return Array(try! encoder.encode(request))
}

func message(_ value: [UInt8], partition: Int32 = 0, offset: Int64 = 0) -> IncomingMessage {
    IncomingMessage(source: SourcePosition(topic: "chaperone.requests", partition: partition, offset: offset), key: nil, value: value)
}

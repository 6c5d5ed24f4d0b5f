import AuditStore
import Contracts
import Foundation
import Synchronization
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// Process faults for the fault tests: `CHAPERONE_TEST_KILL_AT=<stage>:<n>` makes the test
/// worker kill itself with SIGKILL (no cleanup, no commit, no group leave) the `n`th time a
/// request reaches `stage`:
///
/// - `consumed`: a valid request was taken and its audit row is about to be looked up;
/// - `generating`: halfway through the denoising steps;
/// - `recorded`: the audit row was inserted, nothing published yet;
/// - `published`: the broker acknowledged the publish, the offset is not committed yet
///   (commit-after-ack mode; in transactional mode publish and commit are one step);
/// - `committed`: the offset was committed (or the transaction committed).
final class KillSwitch: Sendable {
    enum Stage: String, Sendable, CaseIterable {
        case consumed, generating, recorded, published, committed
    }

    let stage: Stage?
    let occurrence: Int
    private let counts = Mutex<[Stage: Int]>([:])

    /// Reads `CHAPERONE_TEST_KILL_AT`; a malformed value stops the process with an explanation.
    init(environment: [String: String]) {
        guard let value = environment["CHAPERONE_TEST_KILL_AT"], !value.isEmpty else {
            stage = nil
            occurrence = 0
            return
        }
        let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
        guard let stage = Stage(rawValue: parts[0]), parts.count == 2, let occurrence = Int(parts[1]), occurrence >= 1 else {
            FileHandle.standardError.write(Data(
                "chaperone-test-worker: CHAPERONE_TEST_KILL_AT='\(value)' must be <stage>:<n> with stage one of \(Stage.allCases.map(\.rawValue)) and n >= 1\n".utf8))
            exit(2)
        }
        self.stage = stage
        self.occurrence = occurrence
    }

    /// Counts a passage through `stage`; on the chosen occurrence the process dies at once.
    func reached(_ stage: Stage) {
        guard stage == self.stage else { return }
        let count = counts.withLock { counts -> Int in
            counts[stage, default: 0] += 1
            return counts[stage]!
        }
        if count == occurrence {
            FileHandle.standardError.write(Data("chaperone-test-worker: SIGKILL at \(stage.rawValue) #\(count)\n".utf8))
            raise(SIGKILL)
        }
    }

    /// Wraps the audit log and publisher so the stages after them can be reached.
    func decorate(_ components: RequestProcessor.Components) -> RequestProcessor.Components {
        guard stage != nil else { return components }
        var components = components
        components.audit = KillingAuditLog(base: components.audit, killSwitch: self)
        components.publisher = KillingPublisher(base: components.publisher, killSwitch: self)
        return components
    }
}

struct KillingAuditLog: AuditLog {
    let base: any AuditLog
    let killSwitch: KillSwitch

    func decision(requestID: String) async throws -> DecisionRecord? {
        killSwitch.reached(.consumed)
        return try await base.decision(requestID: requestID)
    }

    func insertDecision(_ entry: DecisionRecord) async throws -> InsertOutcome {
        let outcome = try await base.insertDecision(entry)
        killSwitch.reached(.recorded)
        return outcome
    }

    func recordProcessingStart(of source: SourcePosition, workerID: String) async throws -> Int {
        try await base.recordProcessingStart(of: source, workerID: workerID)
    }

    func retractProcessingStart(of source: SourcePosition) async throws {
        try await base.retractProcessingStart(of: source)
    }

    func clearProcessingStarts(of source: SourcePosition) async throws {
        try await base.clearProcessingStarts(of: source)
    }

    func keepWithheldImage(sha256: String, bytes: [UInt8]) async throws {
        try await base.keepWithheldImage(sha256: sha256, bytes: bytes)
    }
}

struct KillingPublisher: ResultPublishing {
    let base: any ResultPublishing
    let killSwitch: KillSwitch

    var isTransactional: Bool { base.isTransactional }

    func publish(topic: String, key: String, payload: [UInt8]) async throws {
        try await base.publish(topic: topic, key: key, payload: payload)
        killSwitch.reached(.published)
    }

    func commit(_ consumed: SourcePosition) async throws {
        try await base.commit(consumed)
        killSwitch.reached(.committed)
    }

    func publishAndCommit(topic: String, key: String, payload: [UInt8], offset consumed: SourcePosition) async throws {
        try await base.publishAndCommit(topic: topic, key: key, payload: payload, offset: consumed)
        killSwitch.reached(.committed)
    }
}

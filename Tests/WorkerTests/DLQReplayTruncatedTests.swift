import Contracts
import Foundation
import Testing
import Worker

/// A dead letter whose original was cut (a huge message) cannot be replayed from the envelope.
@Suite struct DLQReplayTruncatedTests {
    @Test func aTruncatedOriginalIsSkippedWithTheReason() throws {
        var envelope = DLQEnvelope(
            requestID: "r-huge", auditID: "r-huge", reasonCode: .promptTooLong, reasonMessage: "too long", originalValue: "",
            originalKey: nil, source: SourcePosition(topic: "chaperone.requests", partition: 0, offset: 3), workerID: "w",
            rejectedAt: "2026-11-30T00:00:00Z")
        envelope.setOriginal(Array(repeating: UInt8(ascii: "a"), count: DLQEnvelope.maximumOriginalBytes + 1))
        let plan = DLQReplayPlanner().plan(dlqValue: Array(try JSONEncoder().encode(envelope)), replayedIDs: [], again: false)
        guard case .skip(let auditID, let reason) = plan else {
            Issue.record("a truncated original was replayed: \(plan)")
            return
        }
        #expect(auditID == "r-huge")
        #expect(reason.contains("raw_request"), "\(reason)")
    }
}

import Contracts
import Foundation
import Testing
import Worker

@Suite struct DLQReplayPlannerTests {
    static func envelope(requestID: String?, original: String, code: RejectionCode = .unsupportedScheduler, offset: Int64 = 9) -> [UInt8] {
        let source = SourcePosition(topic: "chaperone.requests", partition: 2, offset: offset)
        let envelope = DLQEnvelope(
            requestID: requestID,
            auditID: requestID ?? source.syntheticRequestID,
            reasonCode: code, reasonMessage: "because", originalValue: Data(original.utf8).base64EncodedString(),
            originalKey: requestID.map { Data($0.utf8).base64EncodedString() }, source: source, workerID: "w", rejectedAt: "2026-11-30T00:00:00Z")
        return Array(try! JSONEncoder().encode(envelope))
    }

    static let original = #"{"request_id":"r-1","tenant":"acme","prompt":"a fox","negative_prompt":"","seed":5,"width":64,"height":64,"steps":4,"guidance_scale":7.5,"scheduler":"heun","mitigations":{}}"#

    @Test func firstReplayGetsANewIdAndLinksBack() throws {
        let plan = DLQReplayPlanner().plan(dlqValue: Self.envelope(requestID: "r-1", original: Self.original), replayedIDs: [], again: false)
        guard case .resubmit(let id, let key, let value, let replayOf) = plan else {
            Issue.record("expected a resubmission, got \(plan)")
            return
        }
        #expect(id == "r-1.replay-1")
        #expect(key == Array("r-1.replay-1".utf8))
        #expect(replayOf == "r-1")
        let request = try JSONDecoder().decode(GenerationRequest.self, from: Data(value))
        #expect(request.requestID == "r-1.replay-1")
        #expect(request.attributes == ["replay_of": "r-1"])
        // Everything else is the original request.
        var expected = try JSONDecoder().decode(GenerationRequest.self, from: Data(Self.original.utf8))
        expected.requestID = "r-1.replay-1"
        expected.attributes = ["replay_of": "r-1"]
        #expect(request == expected)
    }

    @Test func anEarlierReplayIsSkippedUnlessAgain() {
        let value = Self.envelope(requestID: "r-1", original: Self.original)
        let skipped = DLQReplayPlanner().plan(dlqValue: value, replayedIDs: ["r-1.replay-1"], again: false)
        guard case .skip(let auditID, let reason) = skipped else {
            Issue.record("expected a skip, got \(skipped)")
            return
        }
        #expect(auditID == "r-1")
        #expect(reason.contains("r-1.replay-1") && reason.contains("--again"))
        let again = DLQReplayPlanner().plan(dlqValue: value, replayedIDs: ["r-1.replay-1", "r-1.replay-3"], again: true)
        guard case .resubmit(let id, _, _, _) = again else {
            Issue.record("expected a resubmission, got \(again)")
            return
        }
        #expect(id == "r-1.replay-4")
    }

    @Test func aFailedReplayIsNotReplayedItself() {
        let plan = DLQReplayPlanner().plan(
            dlqValue: Self.envelope(requestID: "r-1.replay-2", original: Self.original), replayedIDs: [], again: true)
        guard case .skip(_, let reason) = plan else {
            Issue.record("expected a skip, got \(plan)")
            return
        }
        #expect(reason.contains("replay the original"))
    }

    @Test func reasonFilterAndUnparseableOriginals() {
        let filtered = DLQReplayPlanner(reasonCodes: [.stepsOutOfRange])
            .plan(dlqValue: Self.envelope(requestID: "r-1", original: Self.original), replayedIDs: [], again: false)
        #expect(filtered == .skip(auditID: "r-1", reason: "reason unsupported_scheduler not selected"))

        let malformed = Self.envelope(requestID: nil, original: "{oops", code: .malformedJSON)
        guard case .skip(let auditID, let reason) = DLQReplayPlanner().plan(dlqValue: malformed, replayedIDs: [], again: false) else {
            Issue.record("malformed original was not skipped")
            return
        }
        #expect(auditID == "kafka:chaperone.requests:2:9")
        #expect(reason.contains("--include-unparseable"))
        let resent = DLQReplayPlanner(includeUnparseable: true).plan(dlqValue: malformed, replayedIDs: [], again: false)
        #expect(resent == .resubmit(requestID: nil, key: nil, value: Array("{oops".utf8), replayOf: "kafka:chaperone.requests:2:9"))
    }

    @Test func existingAttributesAreKeptAndAFullSetIsLeftAlone() throws {
        let withAttributes = Self.original.replacingOccurrences(of: #""mitigations":{}"#, with: #""mitigations":{},"attributes":{"group":"b"}"#)
        guard case .resubmit(_, _, let value, _) = DLQReplayPlanner().plan(
            dlqValue: Self.envelope(requestID: "r-1", original: withAttributes), replayedIDs: [], again: false)
        else {
            Issue.record("not resubmitted")
            return
        }
        #expect(try JSONDecoder().decode(GenerationRequest.self, from: Data(value)).attributes == ["group": "b", "replay_of": "r-1"])

        let full = "{" + (0..<16).map { #""k\#($0)":"v""# }.joined(separator: ",") + "}"
        let fullRequest = Self.original.replacingOccurrences(of: #""mitigations":{}"#, with: #""mitigations":{},"attributes":\#(full)"#)
        guard case .resubmit(_, _, let fullValue, _) = DLQReplayPlanner().plan(
            dlqValue: Self.envelope(requestID: "r-1", original: fullRequest), replayedIDs: [], again: false)
        else {
            Issue.record("not resubmitted")
            return
        }
        #expect(try JSONDecoder().decode(GenerationRequest.self, from: Data(fullValue)).attributes?.count == 16)
    }

    @Test func replayIdsStayWithinTheRequestIdLimit() {
        #expect(DLQReplayPlanner.replayID(of: "abc", attempt: 12) == "abc.replay-12")
        let long = String(repeating: "x", count: 128)
        let id = DLQReplayPlanner.replayID(of: long, attempt: 1)
        #expect(id.utf8.count <= 128)
        #expect(id.hasSuffix(".replay-1"))
        #expect(id != DLQReplayPlanner.replayID(of: String(repeating: "x", count: 127) + "y", attempt: 1))
        #expect(DLQReplayPlanner.originalID(of: "a.b.replay-7") == "a.b")
        #expect(DLQReplayPlanner.originalID(of: "a.replay-x") == "a.replay-x")
        #expect(DLQReplayPlanner.originalID(of: "plain") == "plain")
    }
}

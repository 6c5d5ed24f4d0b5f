import AuditStore
import Contracts
import Testing
import Worker

@Suite struct RequestFlowTests {
    let source = SourcePosition(topic: "chaperone.requests", partition: 2, offset: 9)
    let request = GenerationRequest(requestID: "r1", tenant: "acme", prompt: "p", seed: 1)

    func entry(_ id: String = "r1", topic: String = "chaperone.results") -> DecisionRecord {
        record(id, decision: .allow, topic: topic, payload: [1, 2, 3])
    }

    /// A row with a fixed decision time, so two calls give equal rows.
    func record(_ id: String, decision: DecisionRecord.Decision, topic: String = "chaperone.results", payload: [UInt8]) -> DecisionRecord {
        DecisionRecord(requestID: id, tenant: "acme", decidedAt: SQLTimestamp(microsecondsSince1970: 0), decision: decision,
                       reasonsJSON: "[]", prompt: "p", negativePrompt: "", mitigationsJSON: "{}", scoresJSON: "[]", imageSHA256: "x",
                       modelSHA256: "m", overlaySHA256: nil, workerID: "w", source: source, publishedTopic: topic,
                       publishedPayload: payload, rawRequest: nil)
    }

    @Test func newRequestIsRecordedBeforePublishAndCommittedAfter() {
        var flow = RequestFlow(.valid(request), source: source, transactional: false)
        #expect(flow.action == .lookUp(requestID: "r1"))
        #expect(flow.handle(.lookedUp(nil)) == .generate(request))
        #expect(flow.handle(.produced(entry())) == .record(entry()))
        #expect(flow.handle(.recorded(.inserted(entry()))) == .publish(entry()))
        #expect(flow.handle(.published) == .commit(source))
        #expect(flow.handle(.committed) == .finish(.delivered(entry(), republished: false)))
    }

    @Test func redeliveryRepublishesStoredBytesWithoutGenerating() {
        var flow = RequestFlow(.valid(request), source: source, transactional: false)
        let stored = record("r1", decision: .block, payload: [9, 9])
        #expect(flow.handle(.lookedUp(stored)) == .publish(stored))
        #expect(flow.handle(.published) == .commit(source))
        #expect(flow.handle(.committed) == .finish(.delivered(stored, republished: true)))
    }

    @Test func lostInsertRaceRepublishesTheWinnersBytes() {
        var flow = RequestFlow(.valid(request), source: source, transactional: false)
        flow.handle(.lookedUp(nil))
        flow.handle(.produced(entry()))
        let winner = record("r1", decision: .censor, payload: [7])
        #expect(flow.handle(.recorded(.alreadyPresent(winner))) == .publish(winner))
    }

    @Test func rejectedRequestIsRecordedThenDeadLettered() {
        let dlq = entry("kafka:chaperone.requests:2:9", topic: "chaperone.requests.dlq")
        var flow = RequestFlow(.rejected(dlq), source: source, transactional: false)
        #expect(flow.action == .record(dlq))
        #expect(flow.handle(.recorded(.inserted(dlq))) == .publish(dlq))
    }

    @Test func transactionalFlowPublishesAndCommitsInOneStep() {
        var flow = RequestFlow(.valid(request), source: source, transactional: true)
        flow.handle(.lookedUp(nil))
        flow.handle(.produced(entry()))
        #expect(flow.handle(.recorded(.inserted(entry()))) == .publishAndCommit(entry(), source))
        #expect(flow.handle(.published) == .publishAndCommit(entry(), source), "a bare publish event does not finish a transaction")
        #expect(flow.handle(.committed) == .finish(.delivered(entry(), republished: false)))
    }

    @Test func handBackNeverCommits() {
        for steps in 0...4 {
            var flow = RequestFlow(.valid(request), source: source, transactional: false)
            let events: [RequestFlow.Event] = [.lookedUp(nil), .produced(entry()), .recorded(.inserted(entry())), .published]
            for event in events.prefix(steps) { flow.handle(event) }
            #expect(flow.handle(.handBack(reason: "revoked")) == .finish(.handedBack(reason: "revoked")))
            #expect(flow.handle(.committed) == .finish(.handedBack(reason: "revoked")), "after \(steps) steps")
        }
    }

    @Test func outOfOrderEventsAreIgnored() {
        var flow = RequestFlow(.valid(request), source: source, transactional: false)
        #expect(flow.handle(.committed) == .lookUp(requestID: "r1"))
        #expect(flow.handle(.published) == .lookUp(requestID: "r1"))
        flow.handle(.lookedUp(nil))
        #expect(flow.handle(.recorded(.inserted(entry()))) == .generate(request), "cannot record before generating")
    }
}

@Suite struct ConsumerFlowTests {
    func msg(_ partition: Int32, _ offset: Int64) -> IncomingMessage {
        IncomingMessage(source: SourcePosition(topic: "t", partition: partition, offset: offset), key: nil, value: [])
    }

    @Test func pausesOnlyForLongRequestsAndResumesWhenIdle() {
        var flow = ConsumerFlow(maxBacklog: 2)
        #expect(flow.handle(.received(msg(0, 1))) == [.start(msg(0, 1))])
        #expect(!flow.paused, "a short request does not pause")
        #expect(flow.handle(.finished) == [], "nothing to resume")
        #expect(flow.handle(.received(msg(0, 2))) == [.start(msg(0, 2))])
        #expect(flow.handle(.busyPastPauseDelay) == [.pauseAll])
        #expect(flow.paused)
        #expect(flow.handle(.busyPastPauseDelay) == [], "pauses once")
        #expect(flow.handle(.finished) == [.resumeAll])
        #expect(!flow.paused)
        #expect(flow.isIdle)
        #expect(flow.handle(.busyPastPauseDelay) == [], "idle: nothing to pause")
    }

    @Test func messagesArrivingWhileBusyAreKeptInOrderAndPauseAtTheCap() {
        var flow = ConsumerFlow(maxBacklog: 2)
        _ = flow.handle(.received(msg(0, 1)))
        #expect(flow.handle(.received(msg(0, 2))) == [])
        #expect(flow.handle(.received(msg(1, 5))) == [.pauseAll], "backlog reached the cap")
        #expect(flow.handle(.received(msg(1, 6))) == [])
        #expect(flow.handle(.finished) == [.start(msg(0, 2))])
        #expect(flow.handle(.finished) == [.start(msg(1, 5))])
        #expect(flow.handle(.finished) == [.start(msg(1, 6))])
        #expect(flow.handle(.finished) == [.resumeAll])
    }

    @Test func revocationHandsBackOnlyTheAffectedWork() {
        var flow = ConsumerFlow(maxBacklog: 1)
        _ = flow.handle(.received(msg(0, 1)))
        _ = flow.handle(.received(msg(1, 3)))
        _ = flow.handle(.received(msg(2, 4)))
        #expect(flow.handle(.revoked([.init(topic: "t", partition: 1)])) == [], "partition 1 only had queued work")
        #expect(flow.backlog == [msg(2, 4)])
        #expect(flow.handle(.revoked([.init(topic: "t", partition: 0)])) == [.handBackCurrent])
        #expect(flow.handle(.finished) == [.start(msg(2, 4))])
    }

    @Test func shutdownFinishesCurrentThenStops() {
        var flow = ConsumerFlow(maxBacklog: 1)
        _ = flow.handle(.received(msg(0, 1)))
        _ = flow.handle(.received(msg(0, 2)))
        #expect(flow.handle(.shutdownRequested) == [])
        #expect(flow.handle(.received(msg(0, 3))) == [], "no new work after shutdown")
        #expect(flow.backlog.isEmpty)
        #expect(flow.handle(.finished) == [.stop])
        var idle = ConsumerFlow()
        #expect(idle.handle(.shutdownRequested) == [.stop])
    }
}

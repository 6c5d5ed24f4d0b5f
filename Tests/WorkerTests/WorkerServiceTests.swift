import Contracts
import Moderation
import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
import Worker

/// A consumer fed from a script of events; records pause/resume/close calls.
final class ScriptedConsumer: RequestConsuming {
    let events = Mutex<[ConsumerEvent]>([])
    let calls = Mutex<[String]>([])

    func push(_ event: ConsumerEvent) { events.withLock { $0.append(event) } }

    func poll(timeout: Duration) async throws -> ConsumerEvent? {
        if let event = events.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return event }
        try await Task.sleep(for: .milliseconds(5))
        return nil
    }

    func pauseAll() async throws { calls.withLock { $0.append("pause") } }
    func resumeAll() async throws { calls.withLock { $0.append("resume") } }
    func close() async throws { calls.withLock { $0.append("close") } }
    var recorded: [String] { calls.withLock { $0 } }
}

@Suite struct WorkerServiceTests {
    func service(consumer: ScriptedConsumer, audit: MemoryAuditLog, publisher: RecordingPublisher, generator: CountingGenerator) -> WorkerService {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let processor = RequestProcessor(
            settings: .init(workerID: "w", backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(5))),
            components: .init(generator: generator, scorer: KeywordScorer(), policy: ThresholdPolicy(rules: []), censor: BlackCensor(),
                              audit: audit, publisher: publisher),
            health: WorkerHealth(), logger: logger)
        return WorkerService(consumer: consumer, processor: processor, health: WorkerHealth(), logger: logger,
                             pollTimeout: .milliseconds(5), pauseDelay: .milliseconds(20), maxBacklog: 1)
    }

    func waitUntil(_ condition: () -> Bool) async throws {
        // Generous: CPU-bound suites running beside this one can hold the test pool's threads
        // for many seconds on a 2-core machine.
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 60 s")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func processesMessagesPausedAndStopsGracefully() async throws {
        let consumer = ScriptedConsumer()
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        consumer.push(.message(message(requestBytes("a"), offset: 0)))
        consumer.push(.message(message(requestBytes("b"), offset: 1)))
        let worker = service(consumer: consumer, audit: audit, publisher: publisher, generator: CountingGenerator())
        try await testGracefulShutdown { trigger in
            let task = Task { try await worker.run() }
            try await waitUntil { publisher.recorded.filter { if case .commit = $0 { true } else { false } }.count == 2 }
            trigger.triggerGracefulShutdown()
            try await task.value
        }
        #expect(Set(audit.all.keys) == ["a", "b"])
        #expect(consumer.recorded.first == "pause")
        #expect(consumer.recorded.last == "close")
        #expect(publisher.recorded.last == .commit(SourcePosition(topic: "chaperone.requests", partition: 0, offset: 1)))
    }

    @Test func revocationOfTheWorkedPartitionHandsTheRequestBack() async throws {
        let consumer = ScriptedConsumer()
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let generator = CountingGenerator(blockUntilCancelled: true)
        consumer.push(.message(message(requestBytes("slow"), partition: 4, offset: 7)))
        let worker = service(consumer: consumer, audit: audit, publisher: publisher, generator: generator)
        try await testGracefulShutdown { trigger in
            let task = Task { try await worker.run() }
            try await waitUntil { generator.calls.withLock { $0 } == 1 }
            try await waitUntil { consumer.recorded.contains("pause") }  // a long request pauses the partitions
            consumer.push(.revoked([.init(topic: "chaperone.requests", partition: 4)]))
            try await waitUntil { consumer.recorded.contains("resume") }
            trigger.triggerGracefulShutdown()
            try await task.value
        }
        #expect(audit.all.isEmpty, "nothing recorded for a handed-back request")
        #expect(publisher.recorded.isEmpty, "nothing published or committed")
        #expect(consumer.recorded == ["pause", "resume", "close"])
    }

    /// An incremental (cooperative) revocation names only the partitions that move: a request
    /// in progress on a partition that stays is finished and committed, not handed back.
    @Test func revocationOfOtherPartitionsLeavesTheRequestRunning() async throws {
        let consumer = ScriptedConsumer()
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let generator = CountingGenerator(holdUntilReleased: true)
        consumer.push(.message(message(requestBytes("kept"), partition: 4, offset: 7)))
        let worker = service(consumer: consumer, audit: audit, publisher: publisher, generator: generator)
        let kept = SourcePosition(topic: "chaperone.requests", partition: 4, offset: 7)
        try await testGracefulShutdown { trigger in
            let task = Task { try await worker.run() }
            try await waitUntil { generator.calls.withLock { $0 } == 1 }
            try await waitUntil { consumer.recorded.contains("pause") }  // a long request pauses the partitions
            consumer.push(.revoked([.init(topic: "chaperone.requests", partition: 1), .init(topic: "chaperone.requests", partition: 5)]))
            consumer.push(.assigned([]))
            try await waitUntil { consumer.events.withLock { $0.isEmpty } }
            generator.release()
            try await waitUntil { publisher.recorded.contains(.commit(kept)) }
            // The loop resumes once it sees the request finished; shut down only after that.
            try await waitUntil { consumer.recorded.contains("resume") }
            trigger.triggerGracefulShutdown()
            try await task.value
        }
        #expect(generator.calls.withLock { $0 } == 1, "generated once, never handed back and redone")
        #expect(Set(audit.all.keys) == ["kept"])
        #expect(publisher.recorded.last == .commit(kept))
        #expect(consumer.recorded == ["pause", "resume", "close"])
    }

    /// A commit that keeps failing is retried until the partition is revoked; then the retries
    /// stop (librdkafka rejoins only once no commit is in flight) and the worker moves on: once
    /// commits work again, the next request is committed and the handed-back one never is.
    @Test func revocationStopsCommitRetries() async throws {
        let consumer = ScriptedConsumer()
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        publisher.commitsFail.withLock { $0 = true }
        consumer.push(.message(message(requestBytes("stuck"), partition: 2, offset: 5)))
        let worker = service(consumer: consumer, audit: audit, publisher: publisher, generator: CountingGenerator())
        let next = SourcePosition(topic: "chaperone.requests", partition: 3, offset: 0)
        try await testGracefulShutdown { trigger in
            let task = Task { try await worker.run() }
            try await waitUntil { publisher.commitAttempts.withLock { $0 } >= 3 }
            consumer.push(.revoked([.init(topic: "chaperone.requests", partition: 2)]))
            consumer.push(.message(message(requestBytes("next"), partition: 3, offset: 0)))
            try await waitUntil { audit.all.keys.contains("next") }
            publisher.commitsFail.withLock { $0 = false }
            try await waitUntil { publisher.recorded.contains(.commit(next)) }
            trigger.triggerGracefulShutdown()
            try await task.value
        }
        #expect(Set(audit.all.keys) == ["stuck", "next"], "the stuck request's audit row stays: its next owner finds it")
        let commits = publisher.recorded.compactMap { if case .commit(let position) = $0 { position } else { nil } }
        #expect(commits == [next], "only the next request is committed, not the handed-back one: \(commits)")
    }
}

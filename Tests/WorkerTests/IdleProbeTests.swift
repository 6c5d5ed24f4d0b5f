import Contracts
import Moderation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
import Worker

/// The idle probe of ``WorkerService``: readiness follows a dependency while no request is in
/// hand, and the probe stays out of the way while one is.
@Suite struct IdleProbeTests {
    /// A check whose answer the test sets; counts its calls.
    final class ScriptedCheck: Sendable {
        enum Answer: Sendable { case pass, fail(String), hang }
        let answer = Mutex(Answer.pass)
        let calls = Atomic(0)

        func set(_ answer: Answer) { self.answer.withLock { $0 = answer } }
        var count: Int { calls.load(ordering: .relaxed) }

        func run() async throws {
            calls.add(1, ordering: .relaxed)
            switch answer.withLock({ $0 }) {
            case .pass: return
            case .fail(let reason): throw ProbeFailure(reason: reason)
            case .hang: try await Task.sleep(for: .seconds(30))
            }
        }
    }

    struct ProbeFailure: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func service(_ consumer: ScriptedConsumer, health: WorkerHealth, check: ScriptedCheck, generator: CountingGenerator = CountingGenerator(),
                 timeout: Duration = .seconds(5)) -> WorkerService {
        let processor = RequestProcessor(
            settings: .init(workerID: "w", backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(5))),
            components: .init(generator: generator, scorer: KeywordScorer(), policy: ThresholdPolicy(rules: []), censor: BlackCensor(),
                              audit: MemoryAuditLog(), publisher: RecordingPublisher()),
            health: health, logger: logger)
        let probe = IdleProbe(dependency: "audit", interval: .milliseconds(20), timeout: timeout) { try await check.run() }
        return WorkerService(consumer: consumer, processor: processor, health: health, logger: logger,
                             pollTimeout: .milliseconds(5), pauseDelay: .milliseconds(20), maxBacklog: 1, idleProbe: probe)
    }

    /// Waits until `condition` holds (at most `limit`); returns how long it took, nil on timeout.
    /// The limits are generous: CPU-bound suites running beside these can hold the test pool's
    /// threads for many seconds on a 2-core machine.
    /// Wall-clock bounds here are loose (60 s) on purpose: the numeric parity suites run beside
    /// this one and keep both cooperative threads of a 2-core machine busy for tens of seconds.
    func waitUntil(_ limit: Duration = .seconds(60), _ condition: () -> Bool) async throws -> Duration? {
        let start = ContinuousClock.now
        while !condition() {
            guard ContinuousClock.now - start < limit else { return nil }
            try await Task.sleep(for: .milliseconds(5))
        }
        return ContinuousClock.now - start
    }

    @Test func idleWorkerTurnsNotReadyWhileTheCheckFailsAndReadyAfter() async throws {
        let consumer = ScriptedConsumer()
        let health = WorkerHealth()
        let check = ScriptedCheck()
        let worker = service(consumer, health: health, check: check)
        try await testGracefulShutdown { trigger in
            let task = Task { try await worker.run() }
            #expect(try await waitUntil { check.count >= 3 } != nil, "the check runs again and again while idle")
            #expect(health.isReady)
            check.set(.fail("connection refused"))
            let down = try await waitUntil { !health.isReady }
            #expect(down != nil && down! < .seconds(60), "not ready soon after the first failed check: \(String(describing: down))")
            #expect(health.problems == ["audit: connection refused"])
            check.set(.pass)
            let up = try await waitUntil { health.isReady }
            #expect(up != nil && up! < .seconds(60), "ready again soon after the first passing check: \(String(describing: up))")
            #expect(health.problems.isEmpty)
            trigger.triggerGracefulShutdown()
            try await task.value
        }
    }

    @Test func checkWithoutAnswerCountsAsFailedAfterTheTimeout() async throws {
        let consumer = ScriptedConsumer()
        let health = WorkerHealth()
        let check = ScriptedCheck()
        check.set(.hang)
        let worker = service(consumer, health: health, check: check, timeout: .milliseconds(200))
        try await testGracefulShutdown { trigger in
            let task = Task { try await worker.run() }
            let down = try await waitUntil { !health.isReady && check.count == 1 }
            #expect(down != nil && down! >= .milliseconds(200) && down! < .seconds(60), "\(String(describing: down))")
            #expect(health.problems.first?.hasPrefix("audit: no answer to the readiness check within") == true, "\(health.problems)")
            #expect(check.count == 1, "one check at a time: no second one while the first hangs")
            trigger.triggerGracefulShutdown()
            try await task.value
        }
    }

    @Test func noCheckWhileARequestIsInHand() async throws {
        let consumer = ScriptedConsumer()
        let health = WorkerHealth()
        let check = ScriptedCheck()
        let generator = CountingGenerator(blockUntilCancelled: true)
        let worker = service(consumer, health: health, check: check, generator: generator)
        try await testGracefulShutdown { trigger in
            let task = Task { try await worker.run() }
            #expect(try await waitUntil { check.count >= 2 } != nil)
            consumer.push(.message(message(requestBytes("slow"), partition: 2, offset: 5)))
            #expect(try await waitUntil { generator.calls.withLock { $0 } == 1 } != nil)
            try await Task.sleep(for: .milliseconds(30))  // a check already running may end
            let during = check.count
            try await Task.sleep(for: .milliseconds(300))
            #expect(check.count == during, "no check while the request runs (\(check.count - during) ran)")
            consumer.push(.revoked([.init(topic: "chaperone.requests", partition: 2)]))
            #expect(try await waitUntil { check.count >= during + 2 } != nil, "checks resume once the request is handed back")
            trigger.triggerGracefulShutdown()
            try await task.value
        }
    }
}

@Suite struct IdleProbeConfigurationTests {
    @Test func probeIntervalDefaultsToFiveSecondsAndIsConfigurable() async throws {
        #expect(try await WorkerConfiguration.load(environment: [:]).databaseProbeInterval == .seconds(5))
        let set = try await WorkerConfiguration.load(environment: ["CHAPERONE_DATABASE_PROBE_INTERVAL_MS": "750"])
        #expect(set.databaseProbeInterval == .milliseconds(750))
        let off = try await WorkerConfiguration.load(environment: ["CHAPERONE_DATABASE_PROBE_INTERVAL_MS": "0"])
        #expect(off.databaseProbeInterval == .zero)
        await #expect(throws: WorkerError.self) {
            try await WorkerConfiguration.load(environment: ["CHAPERONE_DATABASE_PROBE_INTERVAL_MS": "-1"])
        }
    }
}

import Logging
import Synchronization
import Testing
@testable import Worker

/// The pieces the service loop is built from, each on its own: the hand-back signal of the
/// request in hand, the pause/resume retry, and the idle probe's runner.
@Suite struct ServiceLoopPartsTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test func aBodyThatFinishesFirstKeepsItsAnswer() async {
        let signal = CancellationSignal()
        let answer = await signal.run { 42 }
        #expect(answer == 42)
    }

    @Test func theSignalCancelsTheBodyWhichStillAnswers() async {
        let signal = CancellationSignal()
        final class Started: Sendable { let value = Atomic(false) }
        let started = Started()
        let answer: String = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                await signal.run {
                    started.value.store(true, ordering: .releasing)
                    do {
                        try await Task.sleep(for: .seconds(600))
                        return "finished"
                    } catch {
                        return "handed back"
                    }
                }
            }
            group.addTask {
                while !started.value.load(ordering: .acquiring) { await Task.yield() }
                signal.signal()
                return nil
            }
            var result = ""
            for await value in group { if let value { result = value } }
            return result
        }
        #expect(answer == "handed back")
    }

    @Test func aSignalBeforeTheStartCancelsAtOnce() async {
        let signal = CancellationSignal()
        signal.signal()
        let answer = await signal.run { Task.isCancelled ? "cancelled" : "ran" }
        // The body may see the cancellation only after its first suspension; what matters is
        // that run returns the body's own answer and does not hang.
        #expect(["cancelled", "ran"].contains(answer))
    }

    @Test func childResultIsNilUntilFinished() {
        let result = ChildResult<Int>()
        #expect(result.value == nil)
        result.finish(7)
        #expect(result.value == 7)
    }

    /// A consumer whose pause and resume fail a given number of times.
    final class FlakyConsumer: RequestConsuming {
        let failuresLeft: Mutex<Int>
        let calls = Mutex<[String]>([])
        init(failures: Int) { failuresLeft = Mutex(failures) }
        struct Refused: Error {}
        private func call(_ name: String) throws {
            calls.withLock { $0.append(name) }
            let fail = failuresLeft.withLock { left in
                defer { left = max(0, left - 1) }
                return left > 0
            }
            if fail { throw Refused() }
        }
        func poll(timeout: Duration) async throws -> ConsumerEvent? { nil }
        func pauseAll() async throws { try call("pause") }
        func resumeAll() async throws { try call("resume") }
        func close() async throws {}
    }

    @Test func aFailedPauseIsRetriedOnTheNextTurnAndTheLatestWishWins() async {
        let consumer = FlakyConsumer(failures: 2)
        let health = WorkerHealth()
        var pause = PauseRequests()
        pause.want(paused: true)
        await pause.apply(to: consumer, health: health, logger: logger)
        #expect(pause.pending == true)
        #expect(health.problems.contains { $0.hasPrefix("broker-consumer:") }, "a refused pause marks the consumer unavailable")
        pause.want(paused: false)  // the request finished meanwhile
        await pause.apply(to: consumer, health: health, logger: logger)
        #expect(pause.pending == false)
        await pause.apply(to: consumer, health: health, logger: logger)
        #expect(pause.pending == nil)
        #expect(!health.problems.contains { $0.hasPrefix("broker-consumer:") })
        #expect(consumer.calls.withLock { $0 } == ["pause", "resume", "resume"])
        await pause.apply(to: consumer, health: health, logger: logger)
        #expect(consumer.calls.withLock { $0 }.count == 3, "nothing pending: no call")
    }

    @Test func theRunnerStartsACheckWhenDueAndFeedsItsAnswerBack() {
        let probe = IdleProbe(dependency: "audit", interval: .seconds(5), timeout: .seconds(2), check: {})
        let start = ContinuousClock.now
        var runner = IdleProbeRunner(probe: probe, now: start)
        var started: [ChildResult<String?>] = []
        #expect(runner.turn(now: start + .seconds(1), requestInHand: false) { started.append($0) } == nil)
        #expect(started.isEmpty)
        #expect(runner.turn(now: start + .seconds(5), requestInHand: false) { started.append($0) } == .startCheck)
        #expect(started.count == 1)
        // No answer yet, not overdue: nothing.
        #expect(runner.turn(now: start + .seconds(6), requestInHand: false) { started.append($0) } == nil)
        started[0].finish("connection refused")
        let effect = runner.turn(now: start + .seconds(6.5), requestInHand: false) { started.append($0) }
        guard case .unavailable(let reason, let noAnswer, let newlyFailing, _)? = effect else {
            Issue.record("expected unavailable, got \(String(describing: effect))")
            return
        }
        #expect(reason == "connection refused")
        #expect(!noAnswer)
        #expect(newlyFailing)
        #expect(started.count == 1, "one check at a time")
    }
}

import Foundation
import Testing

extension FaultTests {
    /// Process faults with real test workers: kill -9 at each stage of a request
    /// (`CHAPERONE_TEST_KILL_AT` in the test worker), SIGTERM during a request, and rebalances
    /// while workers are busy. The invariant holds after each. The SIGTERM and rebalance tests run
    /// in the worker's default mode (commit after ack); `CHAPERONE_LONG_FAULTS=1` adds transactional.
    @Suite struct ProcessFaultTests {
        /// Kill stages, one per worker slot, and the commit mode they run in.
        struct StagePlan: CustomTestStringConvertible, Sendable {
            var stages: [String]
            var transactional: Bool
            var testDescription: String { "\(stages.joined(separator: ",")) (transactional: \(transactional))" }
        }

        static let stagePlans: [StagePlan] = {
            let plans = [
                StagePlan(stages: ["consumed:2", "generating:2", "recorded:2"], transactional: false),
                StagePlan(stages: ["published:2", "committed:2", "generating:3"], transactional: false),
            ]
            // The transactional variants (same stages; `published` is not separate there) only when long.
            guard longFaults else { return plans }
            return plans + [StagePlan(stages: ["recorded:1", "committed:1", "consumed:3"], transactional: true)] + plans.map { StagePlan(stages: $0.stages.map { $0.hasPrefix("published") ? "recorded:3" : $0 }, transactional: true) }
        }()

        /// Each worker kills itself (SIGKILL) at its stage; the test restarts it without the fault
        /// and the invariant holds. A kill after the publish and before the commit leads to an
        /// identical duplicate; a kill after the audit insert to a republish of the stored bytes.
        @Test(.timeLimit(.minutes(4)), arguments: FaultTests.ProcessFaultTests.stagePlans)
        func killNineAtEachStage(plan: StagePlan) async throws {
            var options = FaultRun.Options(name: "kill\(plan.transactional ? "tx" : "")")
            options.transactional = plan.transactional
            options.workers = 0
            let run = try await FaultRun(options)
            do {
                for stage in plan.stages { try run.addWorker(overrides: ["CHAPERONE_TEST_KILL_AT": stage]) }
                try await run.produceValid(36, prefix: "kill")
                var restarted = Set<Int>()
                let done = try await run.watch(until: { run in
                    for index in run.workers.indices where !restarted.contains(index) && !run.workers[index].isRunning {
                        restarted.insert(index)
                        try run.restart(index)
                    }
                    return run.missing.isEmpty && restarted.count == plan.stages.count
                }, timeout: .seconds(120))
                #expect(done, "every worker died at its stage and every request was delivered: restarted \(restarted.sorted()), missing \(run.missing.prefix(5))\n\(run.logTails)")
                try await run.watch(for: .seconds(1))
                let report = try await run.verify()
                if plan.stages.contains(where: { $0.hasPrefix("published") }) {
                    #expect(report.duplicates >= 1, "a kill between publish and commit leads to a (byte-identical) duplicate")
                }
                print("kill -9 at \(plan.testDescription): \(report)")
            } catch { Issue.record(error) }
            await run.finish()
        }

        /// SIGTERM while a worker is generating: it finishes the request within the shutdown time
        /// and exits 0; with a shutdown time shorter than the request it hands the request back at
        /// the deadline (uncommitted) and another worker delivers it. The stop rebalances the group
        /// while the survivor is generating (a request running past 2 s pauses its partitions).
        @Test(.timeLimit(.minutes(4)), arguments: [10, 1], FaultTests.BrokerFaultTests.modes(default: false))
        func sigtermDuringARequest(maxShutdownSeconds: Int, transactional: Bool) async throws {
            var options = FaultRun.Options(name: "term\(maxShutdownSeconds)\(transactional ? "tx" : "")")
            options.workers = 2
            options.transactional = transactional
            options.steps = 8
            options.stepDelayMilliseconds = 400  // 3.2 s per request
            options.environment["CHAPERONE_SHUTDOWN_MAX_SECONDS"] = "\(maxShutdownSeconds)"
            let run = try await FaultRun(options)
            do {
                try await run.produceValid(8, prefix: "term")
                #expect(try await run.watch(until: { $0.messages.count >= 1 }, timeout: .seconds(60)), "work flows")
                try await run.watch(for: .seconds(1))  // both workers are mid-request now
                let start = ContinuousClock.now
                let status = await run.workers[0].terminate(timeout: .seconds(maxShutdownSeconds + 8))
                let took = ContinuousClock.now - start
                #expect(status != nil, "the worker stopped by itself within the shutdown time: \(run.workers[0].logTail)")
                if maxShutdownSeconds >= 10 {
                    #expect(status == 0, "clean exit: \(run.workers[0].logTail)")
                    #expect(run.workers[0].logTail.contains("request delivered"), "the current request was finished")
                } else {
                    #expect(took < .seconds(maxShutdownSeconds + 6), "stopped soon after the deadline (took \(took))")
                }
                try await run.waitForAll()
                let report = try await run.verify()
                print("SIGTERM during a request (shutdown.max_seconds=\(maxShutdownSeconds), transactional: \(transactional), stopped in \(took)): \(report)")
            } catch { Issue.record(error) }
            await run.finish()
        }

        /// Long requests (the worker pauses its partitions while generating) and the group
        /// rebalances under them: two workers join, one leaves by SIGTERM, one is killed. Partitions
        /// paused and revoked come back paused from librdkafka; the worker sets their pause again
        /// after each assignment, so commit-after-ack keeps fetching after the rebalances.
        @Test(.timeLimit(.minutes(4)), arguments: FaultTests.BrokerFaultTests.modes(default: false))
        func rebalancesWhileBusy(transactional: Bool) async throws {
            var options = FaultRun.Options(name: "busy\(transactional ? "tx" : "")")
            options.workers = 2
            options.transactional = transactional
            options.steps = 10
            options.stepDelayMilliseconds = 250  // 2.5 s per request: past the 2 s pause delay
            options.environment["CHAPERONE_SHUTDOWN_MAX_SECONDS"] = "3"
            let run = try await FaultRun(options)
            do {
                try await run.produceValid(longFaults ? 24 : 14, prefix: "busy")
                #expect(try await run.watch(until: { $0.messages.count >= 2 }, timeout: .seconds(60)), "work flows")
                try run.addWorker()
                try await run.watch(for: .seconds(3))
                try run.addWorker()
                try await run.watch(for: .seconds(3))
                _ = await run.workers[0].terminate(timeout: .seconds(10))
                try await run.watch(for: .seconds(2))
                run.workers[1].kill9()
                try await run.waitForAll(timeout: .seconds(150))
                let report = try await run.verify()
                print("rebalances while busy (transactional: \(transactional)): \(report)")
            } catch { Issue.record(error) }
            await run.finish()
        }
    }
}

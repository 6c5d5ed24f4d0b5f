import AuditStore
import Contracts
import Moderation
import Foundation
import Kafka
import Testing

extension FaultTests {
    /// The soak run behind `ops/soak` (only with `CHAPERONE_SOAK=1`): many requests through three
    /// test workers on a three-broker mock cluster while random faults strike — a broker down and
    /// back (leaders moved), injected protocol errors, slow brokers, kill -9 and restart of a
    /// worker, killed database sessions. Prints one JSON line (`soak: {...}`) with requests in,
    /// audit rows, result messages, identical duplicates, lost (must be 0) and p50/p99 latency.
    ///
    /// Settings: `CHAPERONE_SOAK_REQUESTS` (default 1000), `CHAPERONE_SOAK_SECONDS` (time limit
    /// for the whole run, default 600), `CHAPERONE_SOAK_TRANSACTIONAL=1`, `CHAPERONE_SOAK_SEED`.
    @Suite(.enabled(if: ProcessInfo.processInfo.environment["CHAPERONE_SOAK"] == "1"))
    struct SoakTests {
        enum Fault: String, CaseIterable {
            case brokerDownUp = "broker_down_up"
            case produceErrors = "produce_errors"
            case fetchErrors = "fetch_errors"
            case commitErrors = "commit_errors"
            case slowBrokers = "slow_brokers"
            case killWorker = "kill9_worker"
            case killSessions = "pg_terminate_backend"
        }

        /// A small deterministic generator (SplitMix64), so a seed reproduces the fault sequence.
        struct SplitMix: RandomNumberGenerator {
            var state: UInt64
            mutating func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
        }

        @Test func soak() async throws {
            let environment = ProcessInfo.processInfo.environment
            let total = Int(environment["CHAPERONE_SOAK_REQUESTS"] ?? "") ?? 1000
            let seconds = Int(environment["CHAPERONE_SOAK_SECONDS"] ?? "") ?? 600
            let seed = UInt64(environment["CHAPERONE_SOAK_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
            var random = SplitMix(state: seed)
            var options = FaultRun.Options(name: "soak")
            options.brokers = 3
            options.workers = 3
            options.transactional = environment["CHAPERONE_SOAK_TRANSACTIONAL"] == "1"
            let run = try await FaultRun(options)
            let start = ContinuousClock.now
            let deadline = start + .seconds(seconds)
            var faults: [String: Int] = [:]
            do {
                let adminURL = try IntegrationEnvironment.postgresURL()
                let databaseName = FaultTests.PostgresFaultTests.databaseName(run.databaseURL)
                var produced = 0
                var batch = 0
                var hostile = 0
                while produced < total, ContinuousClock.now < deadline {
                    let count = min(total - produced, Int.random(in: 20...60, using: &random))
                    for index in 0..<count {
                        try await run.produce(run.validRequest(String(format: "soak-%05d", produced + index)))
                    }
                    produced += count
                    // Hostile kinds mixed in: bad text in a field or key, and an earlier request's
                    // id reused with other content (rejected under its own position).
                    for _ in 0..<2 {
                        let place = HostileInputTests.stringPlaces.randomElement(using: &random)!
                        let bad = HostileInputTests.badTexts.randomElement(using: &random)!
                        try await run.produce(Array(place.build(String(format: "soak-h-%05d", hostile), bad.text).utf8))
                        hostile += 1
                    }
                    let reused = String(format: "soak-%05d", Int.random(in: 0..<produced, using: &random))
                    var duplicate = GenerationRequest(requestID: reused, tenant: "intruder", prompt: "another prompt \(hostile)", seed: 1,
                                                      width: 64, height: 64, steps: options.steps)
                    duplicate.negativePrompt = ""
                    try await run.produce(Array(try JSONEncoder().encode(duplicate)), storedUnderPosition: true)
                    hostile += 1
                    faults["hostile_messages", default: 0] += 3
                    batch += 1
                    let fault = Fault.allCases.randomElement(using: &random)!
                    faults[fault.rawValue, default: 0] += 1
                    switch fault {
                    case .brokerDownUp:
                        let broker = Int32.random(in: 1...3, using: &random)
                        let other = broker % 3 + 1
                        try FaultTests.BrokerFaultTests.moveAllLeaders(run, to: other)
                        try run.cluster.setBrokerDown(broker)
                        try await run.watch(for: .seconds(2))
                        try run.cluster.setBrokerUp(broker)
                    case .produceErrors:
                        run.cluster.pushRequestErrors([.notLeaderForPartition, .requestTimedOut, .notEnoughReplicas], for: .produce)
                    case .fetchErrors:
                        run.cluster.pushRequestErrors([.notLeaderForPartition, .leaderNotAvailable], for: .fetch)
                    case .commitErrors:
                        run.cluster.pushRequestErrors([.coordinatorNotAvailable, .notCoordinator, .requestTimedOut], for: .offsetCommit)
                        if options.transactional {
                            run.cluster.pushRequestErrors([.concurrentTransactions], for: .endTransaction)
                        }
                    case .slowBrokers:
                        try run.cluster.setRoundTripTime(.milliseconds(200))
                        try await run.watch(for: .seconds(2))
                        try run.cluster.setRoundTripTime(.zero)
                    case .killWorker:
                        try run.restart(Int.random(in: 0..<run.workers.count, using: &random))
                    case .killSessions:
                        try await FaultTests.PostgresFaultTests.terminateSessions(of: databaseName, adminURL: adminURL)
                    }
                    try await run.watch(for: .milliseconds(Int.random(in: 500...2500, using: &random)))
                }
                let remaining = max(.seconds(30), deadline - ContinuousClock.now)
                try await run.waitForAll(timeout: remaining, drain: .seconds(3))
                let report = try await run.verify()
                let elapsed = ContinuousClock.now - start
                let faultJSON = faults.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
                print("soak: {\"seed\": \(seed), \"transactional\": \(options.transactional), \"workers\": 3, \"brokers\": 3, "
                    + "\"seconds\": \(Int(elapsed.milliseconds / 1000)), \"faults\": {\(faultJSON)}, \"report\": \(report.json)}")
                #expect(report.requests >= min(total, 1), "requests were produced")
            } catch { Issue.record(error) }
            await run.finish()
        }
    }
}

import Foundation
import Kafka
import Testing

extension FaultTests {
    /// Scaling out while every worker is busy: two workers each generate a long request when a
    /// third joins the group. With the eager `range` strategy the rebalance revokes every
    /// partition, so both requests are handed back and generated again from the start by their
    /// partitions' next owners; with `cooperative-sticky` only the partition that moves to the
    /// new worker is revoked, so at most one request is handed back and the other finishes
    /// where it started. Four partitions make that bound exact: going from 2 to 3 members moves
    /// exactly one partition (2 + 2 becomes 2 + 1 + 1). The invariant holds in both runs.
    ///
    /// Runs where the linked librdkafka runs cooperative-sticky safely (2.3.0 and newer), or
    /// with `CHAPERONE_TEST_COOPERATIVE=1`: librdkafka 2.0.2 (Debian 12) can abort a member on
    /// an assertion of its sticky assignor (librdkafka issue 4312), which this test then
    /// reports as a failure that has nothing to do with the worker.
    @Suite(.enabled(if: LibRdKafkaVersion.cooperativeStickyIsSafe || ProcessInfo.processInfo.environment["CHAPERONE_TEST_COOPERATIVE"] == "1"))
    struct ScaleOutTests {
        /// What one scale-out run measured.
        struct Measured: CustomStringConvertible {
            var strategy: String
            /// Requests being generated when the third worker was started.
            var inProgress: Set<String>
            /// Those of them handed back (cancelled) afterwards.
            var handedBack: Set<String>
            /// Partitions revoked from the first two workers after the third was started.
            var revoked: [Int32]
            /// Of those, partitions that came back to the worker that lost them: not a move but
            /// a lost assignment (the coordinator dropped the member from the group).
            var bounced: [Int32] = []
            var report: FaultRun.Report

            var description: String {
                "\(strategy): handed back \(handedBack.count) of \(inProgress.count) in progress (revoked partitions \(revoked.sorted())); \(report)"
            }
        }

        static let partitions = 4

        @Test(.timeLimit(.minutes(4)))
        func cooperativeStickyHandsBackOnlyWhatMoves() async throws {
            let eager = try await Self.scaleOut(strategy: "range")
            var cooperative = try await Self.scaleOut(strategy: "cooperative-sticky")
            if !cooperative.bounced.isEmpty {
                // librdkafka 2.0.2's mock coordinator has been seen, on a loaded machine, to miss
                // members' rejoins in the second cooperative round until it timed a member out,
                // whose partitions then bounce back to it. That is no cooperative move: measure
                // once more, and fail if it happens again.
                print("scale-out: the mock coordinator dropped a member (partitions \(cooperative.bounced) bounced): \(cooperative); measuring again")
                cooperative = try await Self.scaleOut(strategy: "cooperative-sticky")
            }
            print("scale-out: eager handed back \(eager.handedBack.count) of \(eager.inProgress.count) in progress; "
                  + "cooperative-sticky \(cooperative.handedBack.count) of \(cooperative.inProgress.count)")
            print("scale-out details: \(eager)\nscale-out details: \(cooperative)")

            #expect(eager.inProgress.count == 2, "both workers were busy when the third joined (eager run)")
            #expect(cooperative.inProgress.count == 2, "both workers were busy when the third joined (cooperative run)")
            #expect(eager.handedBack == eager.inProgress, "an eager rebalance revokes everything: every request in progress is handed back")
            #expect(Set(eager.revoked) == Set((0..<Int32(Self.partitions))), "eager: every partition revoked, got \(eager.revoked)")
            #expect(cooperative.bounced.isEmpty, "cooperative: no member lost its assignment, got \(cooperative.bounced) back")
            #expect(cooperative.revoked.count == 1, "cooperative: exactly the one partition that moves is revoked, got \(cooperative.revoked)")
            #expect(cooperative.handedBack.count <= 1, "cooperative: only a request on the moving partition is handed back")
            #expect(cooperative.handedBack.count < eager.handedBack.count, "cooperative-sticky cancels fewer requests in progress than eager")
        }

        /// Two workers with `strategy`, one long request in progress on each, then a third
        /// worker; waits for every request to be delivered and checks the invariant.
        static func scaleOut(strategy: String) async throws -> Measured {
            var options = FaultRun.Options(name: "scale-\(strategy)")
            options.workers = 2
            options.partitions = partitions
            options.steps = 8
            options.stepDelayMilliseconds = 2000  // 16 s per request: past both rounds of a cooperative rebalance
            options.environment["CHAPERONE_KAFKA_ASSIGNMENT_STRATEGY"] = strategy
            options.environment["CHAPERONE_LOG_FORMAT"] = "json"
            let run = try await FaultRun(options)
            var measured = Measured(strategy: strategy, inProgress: [], handedBack: [], revoked: [], report: FaultRun.Report())
            do {
                // The group is settled: each worker holds part of the topic.
                var settled: [Set<Int32>] = []
                let split = try await run.watch(until: { run in
                    settled = run.workers.map { WorkerLog($0.log).assignment() }
                    return Self.isSplit(settled, among: 2)
                }, timeout: .seconds(60))
                try #require(split, "the two workers split the topic: \(settled)\n\(run.logTails)")

                // One long request on a partition of each worker.
                var ids: [String] = []
                for (index, assignment) in settled.enumerated() {
                    ids.append(try await run.produce(run.validRequest("scale-\(strategy)-\(index)"), partition: assignment.min()!))
                }
                let started = try await run.watch(until: { run in
                    let logs = run.workers.map { WorkerLog($0.log) }
                    return ids.allSatisfy { id in logs.contains { $0.started.contains(id) } }
                }, timeout: .seconds(30))
                try #require(started, "both requests started\n\(run.logTails)")
                try await run.watch(for: .seconds(1))
                measured.inProgress = Set(ids.filter { run.messages[$0] == nil })
                let linesBefore = run.workers.map { WorkerLog($0.log).lines.count }

                // Scale out while both are busy.
                try run.addWorker()
                let rebalanced = try await run.watch(until: { run in
                    Self.isSplit(run.workers.map { WorkerLog($0.log).assignment() }, among: 3)
                }, timeout: .seconds(90))
                #expect(rebalanced, "the three workers split the topic\n\(run.logTails)")
                try await run.waitForAll(timeout: .seconds(90))

                let logs = run.workers.map { WorkerLog($0.log) }
                measured.handedBack = Set(logs.flatMap { $0.handedBack.map(\.requestID) }).intersection(measured.inProgress)
                measured.revoked = zip(logs.prefix(2), linesBefore).flatMap { log, before in log.revoked(afterLine: before) }
                measured.bounced = zip(logs.prefix(2), linesBefore).flatMap { log, before in
                    log.revoked(afterLine: before).filter(log.assignment().contains)
                }
                // A request handed back was on a partition its worker lost.
                for (index, log) in logs.prefix(2).enumerated() {
                    let lost = Set(log.revoked(afterLine: linesBefore[index]))
                    for handBack in log.handedBack where measured.inProgress.contains(handBack.requestID) {
                        #expect(lost.contains(handBack.partition), "\(strategy): \(handBack.requestID) handed back though partition \(handBack.partition) stayed with w\(index)")
                    }
                }
                measured.report = try await run.verify()
            } catch { Issue.record(error) }
            await run.finish()
            return measured
        }

        /// Whether `assignments` are `members` non-empty, disjoint sets covering every partition.
        static func isSplit(_ assignments: [Set<Int32>], among members: Int) -> Bool {
            assignments.count == members && assignments.allSatisfy { !$0.isEmpty }
                && assignments.map(\.count).reduce(0, +) == partitions
                && Set(assignments.joined()) == Set(0..<Int32(partitions))
        }
    }
}

/// What a test worker's JSON log (`log.format` json) says about its partitions and requests.
struct WorkerLog {
    struct Line {
        var message: String
        var metadata: [String: String]
    }

    let lines: [Line]

    init(_ text: String) {
        lines = text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let message = object["message"] as? String else { return nil }
            let metadata = (object["metadata"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
            return Line(message: message, metadata: metadata)
        }
    }

    /// Partition numbers in a `partitions` value such as `["t.requests:0", "t.requests:3"]`.
    static func partitions(_ value: String?) -> [Int32] {
        guard let value else { return [] }
        return value.split(whereSeparator: { $0 == "[" || $0 == "]" || $0 == "," || $0 == " " })
            .compactMap { $0.split(separator: ":").last.flatMap { Int32($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) } }
    }

    /// The worker's assignment after its log so far: assigned partitions added, revoked ones
    /// removed (right for eager and incremental rebalances alike).
    func assignment() -> Set<Int32> {
        var current = Set<Int32>()
        for line in lines {
            switch line.message {
            case "partitions assigned": current.formUnion(Self.partitions(line.metadata["partitions"]))
            case "partitions revoked": current.subtract(Self.partitions(line.metadata["partitions"]))
            default: break
            }
        }
        return current
    }

    /// Partitions revoked after the first `count` lines.
    func revoked(afterLine count: Int) -> [Int32] {
        lines.dropFirst(count).filter { $0.message == "partitions revoked" }.flatMap { Self.partitions($0.metadata["partitions"]) }
    }

    /// Request ids the worker started.
    var started: Set<String> {
        Set(lines.filter { $0.message == "request started" }.compactMap { $0.metadata["request_id"] })
    }

    /// Requests the worker handed back, with the partition each came from.
    var handedBack: [(requestID: String, partition: Int32)] {
        lines.filter { $0.message == "request handed back" }.compactMap { line in
            guard let id = line.metadata["request_id"], let source = line.metadata["source"] else { return nil }
            let parts = source.split(separator: ":")
            guard parts.count >= 3, let partition = Int32(parts[parts.count - 2]) else { return nil }
            return (id, partition)
        }
    }
}

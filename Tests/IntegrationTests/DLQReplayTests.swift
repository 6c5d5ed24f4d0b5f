import AuditStore
import Contracts
import Foundation
import Kafka
import Testing
import Worker

/// `chaperone dlq replay` end to end: a request rejected under one limit is replayed after the
/// limit is raised, through real workers, the mock cluster and PostgreSQL. The rejection's
/// audit row stays; the replay gets its own row linked by `replay_of`.
@Suite(.serialized) struct DLQReplayTests {
    static func request(_ id: String, steps: Int) -> [UInt8] {
        Array(try! JSONEncoder().encode(GenerationRequest(
            requestID: id, tenant: "acme", prompt: "a lighthouse at dusk", seed: 3, width: 64, height: 64, steps: steps)))
    }

    @Test(.timeLimit(.minutes(4)))
    func rejectedRequestIsReplayedAfterTheFixKeepingItsHistory() async throws {
        let database = try await FreshDatabase.create(prefix: "chaperone_replay")
        defer { Task { await database.drop() } }
        let binary = try IntegrationEnvironment.testWorkerBinary()
        let cluster = try MockCluster(brokers: 1)
        let topics = WorkerTopics(requests: "rp.requests", results: "rp.results", deadLetters: "rp.requests.dlq")
        for topic in [topics.requests, topics.results, topics.deadLetters] { try cluster.createTopic(topic, partitions: 1) }
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-replay-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        func environment(maxSteps: Int) -> [String: String] {
            [
                "CHAPERONE_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrapServers,
                "CHAPERONE_KAFKA_GROUP_ID": "replay-workers",
                "CHAPERONE_KAFKA_SESSION_TIMEOUT_MS": "6000",
                "CHAPERONE_TOPICS_REQUESTS": topics.requests,
                "CHAPERONE_TOPICS_RESULTS": topics.results,
                "CHAPERONE_TOPICS_DLQ": topics.deadLetters,
                "CHAPERONE_DATABASE_URL": database.url,
                "CHAPERONE_DATABASE_MIGRATIONS": IntegrationEnvironment.repositoryRoot.appendingPathComponent("schemas/migrations").path,
                "CHAPERONE_HTTP_PORT": "0",
                "CHAPERONE_LIMITS_MAX_STEPS": "\(maxSteps)",
                "CHAPERONE_LOG_LEVEL": "warning",
            ]
        }
        let audit = try await AuditRepository.connect(url: database.url)
        try await Migrator(
            connection: audit.connection,
            directory: IntegrationEnvironment.repositoryRoot.appendingPathComponent("schemas/migrations")).migrate()
        func waitForRows(_ ids: [String], worker: WorkerProcess) async throws {
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                var found = 0
                for id in ids where try await audit.decision(requestID: id) != nil { found += 1 }
                if found == ids.count { return }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw IntegrationError("audit rows \(ids) did not appear; worker log:\n\(worker.logTail)")
        }

        // 1. A worker that accepts at most 10 steps rejects the 20-step request.
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers))
        try await producer.send(topic: topics.requests, key: "long-1", value: Self.request("long-1", steps: 20))
        try await producer.send(topic: topics.requests, key: "short-1", value: Self.request("short-1", steps: 4))
        try await producer.send(topic: topics.requests, key: nil, value: Array("{oops".utf8))
        let strict = try WorkerProcess(binary: binary, id: "strict", environment: environment(maxSteps: 10), logFolder: logs)
        defer { strict.kill9() }
        try await waitForRows(["long-1", "short-1", "kafka:rp.requests:0:2"], worker: strict)
        #expect(try await audit.decision(requestID: "long-1")?.decision == .rejected)
        _ = await strict.terminate(timeout: .seconds(20))

        // 2. Replay after the fix: only the readable rejection is resubmitted by default.
        let settings = DLQReplayer.Settings(
            bootstrapServers: cluster.bootstrapServers, deadLetterTopic: topics.deadLetters, requestsTopic: topics.requests,
            idleTimeout: .seconds(3))
        let report = try await DLQReplayer(settings: settings, planner: DLQReplayPlanner(), audit: audit).run()
        #expect(report.examined == 2)
        #expect(report.resubmitted == 1)
        #expect(report.entries.first { $0.action == "resubmitted" }?.replayID == "long-1.replay-1")
        #expect(report.entries.first { $0.action == "skipped" }?.auditID?.hasPrefix("kafka:rp.requests:0:") == true)

        // 3. A worker that accepts 50 steps processes the replay.
        let relaxed = try WorkerProcess(binary: binary, id: "relaxed", environment: environment(maxSteps: 50), logFolder: logs)
        defer { relaxed.kill9() }
        try await waitForRows(["long-1.replay-1"], worker: relaxed)
        let replayed = try #require(try await audit.decision(requestID: "long-1.replay-1"))
        #expect(replayed.decision != .rejected)
        #expect(replayed.attributesJSON == #"{"replay_of": "long-1"}"#)
        let original = try #require(try await audit.decision(requestID: "long-1"))
        #expect(original.decision == .rejected, "the rejection row is kept as it was")
        let result = try JSONDecoder().decode(ModerationResult.self, from: Data(replayed.publishedPayload))
        #expect(result.requestID == "long-1.replay-1")

        // 4. Running the replay again finds the replay in the audit log and skips it.
        let second = try await DLQReplayer(settings: settings, planner: DLQReplayPlanner(), audit: audit).run()
        #expect(second.resubmitted == 0)
        #expect(second.entries.contains { $0.reason?.contains("already replayed as long-1.replay-1") == true })
        // With --again it becomes the next attempt.
        var again = settings
        again.again = true
        again.dryRun = true
        let third = try await DLQReplayer(settings: again, planner: DLQReplayPlanner(), audit: audit).run()
        #expect(third.entries.first { $0.action == "planned" }?.replayID == "long-1.replay-2")
        try await producer.close()
    }
}

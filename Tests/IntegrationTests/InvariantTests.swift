import AuditStore
import Contracts
import Foundation
import Kafka
import Testing
import Worker

/// The invariant, end to end with real processes: for every request on the input topic there
/// is exactly one audit row and at least one result or DLQ message with its id; duplicates are
/// byte-identical; every result agrees with its audit row (decision, generated image sha256).
@Suite(.serialized) struct InvariantTests {
    static let partitions = 6
    static let workers = 3

    /// Requests the test produces: valid ones with distinct ids and steered decisions, and bad
    /// ones of many kinds (some with readable ids, some only identifiable by offset).
    static func requests() -> [[UInt8]] {
        var messages: [[UInt8]] = []
        let prompts = ["a lighthouse at dawn", "two knights in a fight", "a gore scene", "a bowl of fruit", "a mountain lake"]
        for index in 0..<45 {
            var request = GenerationRequest(
                requestID: String(format: "it-%03d", index), tenant: index % 2 == 0 ? "acme" : "globex",
                prompt: prompts[index % prompts.count], seed: UInt64(index), width: 64, height: 64, steps: 8)
            if index % 7 == 0 { request.mitigations = Mitigations(safegen: true, safetyGuidance: SafetyGuidance(preset: .medium)) }
            messages.append(Array(try! JSONEncoder().encode(request)))
        }
        func bad(_ id: String, _ change: (inout [String: Any]) -> Void) -> [UInt8] {
            var object: [String: Any] = [
                "request_id": id, "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "seed": 1, "width": 64,
                "height": 64, "steps": 4, "guidance_scale": 7.5, "scheduler": "pndm", "mitigations": ["safegen": false],
            ]
            change(&object)
            return Array(try! JSONSerialization.data(withJSONObject: object))
        }
        messages += [
            bad("bad-missing-seed") { $0["seed"] = nil },
            bad("bad-wrong-type") { $0["steps"] = "four" },
            bad("bad-unknown-field") { $0["priority"] = 1 },
            bad("bad-steps") { $0["steps"] = 5000 },
            bad("bad-pixels") { $0["width"] = 4096; $0["height"] = 4096 },
            bad("bad-multiple-of-8") { $0["width"] = 100 },
            bad("bad-scheduler") { $0["scheduler"] = "warp" },
            bad("bad-nul") { $0["prompt"] = "a cat\u{0}" },
            bad("bad-seed") { $0["seed"] = -5 },
            bad("bad-preset") { $0["mitigations"] = ["safegen": true, "safety_guidance": ["preset": "ultra"]] },
            bad("bad-prompt-length") { $0["prompt"] = String(repeating: "a", count: 2500) },
            bad("bad id with spaces") { _ in },
            Array("{\"request_id\": \"bad-truncated\", ".utf8),
            [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D],
            Array("[1, 2, 3]".utf8),
            [],
            Array(repeating: UInt8(ascii: " "), count: 5000),  // oversize (limit set to 4096 below)
        ]
        return messages
    }

    /// With Kafka transactions: publish and `sendOffsetsToTransaction` commit together; each
    /// worker has its own transactional id, and the restarted worker fences its killed predecessor.
    @Test(.timeLimit(.minutes(5)))
    func invariantHoldsWithTransactions() async throws {
        try await checkInvariant(transactional: true)
    }

    /// With an idempotent producer and a consumer commit after each acknowledged publish.
    @Test(.timeLimit(.minutes(5)))
    func invariantHoldsWithCommitAfterAck() async throws {
        try await checkInvariant(transactional: false)
    }

    func checkInvariant(transactional: Bool) async throws {
        let database = try await FreshDatabase.create(prefix: "chaperone_it")
        defer { Task { await database.drop() } }
        let binary = try IntegrationEnvironment.testWorkerBinary()
        let cluster = try MockCluster(brokers: 1)
        let prefix = transactional ? "itx" : "it"
        let topics = WorkerTopics(requests: "\(prefix).requests", results: "\(prefix).results", deadLetters: "\(prefix).requests.dlq")
        try cluster.createTopic(topics.requests, partitions: Self.partitions)
        try cluster.createTopic(topics.results, partitions: 3)
        try cluster.createTopic(topics.deadLetters, partitions: 1)

        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-it-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let environment = [
            "CHAPERONE_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrapServers,
            "CHAPERONE_TEST_TRANSACTIONAL": transactional ? "1" : "0",
            "CHAPERONE_KAFKA_GROUP_ID": "it-workers",
            "CHAPERONE_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "CHAPERONE_TOPICS_REQUESTS": topics.requests,
            "CHAPERONE_TOPICS_RESULTS": topics.results,
            "CHAPERONE_TOPICS_DLQ": topics.deadLetters,
            "CHAPERONE_DATABASE_URL": database.url,
            "CHAPERONE_DATABASE_MIGRATIONS": IntegrationEnvironment.repositoryRoot.appendingPathComponent("schemas/migrations").path,
            "CHAPERONE_HTTP_PORT": "0",
            "CHAPERONE_LIMITS_MAX_MESSAGE_BYTES": "4096",
            "CHAPERONE_TEST_STEP_DELAY_MS": "40",
            // Tenant globex escalates blocked images: the invariant must hold across tries.
            "CHAPERONE_TEST_ESCALATION": "1",
            "CHAPERONE_LOG_LEVEL": "info",
        ]
        var workers = try (0..<Self.workers).map { try WorkerProcess(binary: binary, id: "w\($0)", environment: environment, logFolder: logs) }
        defer { for worker in workers { worker.kill9() } }

        // Produce everything; the delivery report gives each message's partition and offset.
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers))
        var expected: [String: SourcePosition] = [:]
        let validator = RequestValidator(limits: RequestLimits(maxMessageBytes: 4096))
        for value in Self.requests() {
            let readableID = (try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])?["request_id"] as? String
            let report = try await producer.send(topic: topics.requests, key: readableID.map { Array($0.utf8) }, value: value)
            let source = SourcePosition(topic: report.topic, partition: report.partition, offset: report.offset)
            let auditID: String
            switch validator.decode(value) {
            case .success(let request): auditID = request.requestID
            case .failure(let rejection):
                auditID = rejection.requestID ?? source.syntheticRequestID
            }
            #expect(expected[auditID] == nil, "duplicate test id \(auditID)")
            expected[auditID] = source
        }
        try await producer.flush()
        #expect(expected.count >= 60)

        // Watch the output topics.
        var watcherConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: cluster.bootstrapServers, groupID: "it-watcher-\(UInt32.random(in: 0...UInt32.max))",
            topics: [topics.results, topics.deadLetters])
        watcherConfiguration.isolationLevel = .readCommitted
        let watcher = try KafkaConsumer(configuration: watcherConfiguration)
        var messages: [String: [[UInt8]]] = [:]
        var killed = false
        let deadline = ContinuousClock.now + .seconds(180)
        while Set(messages.keys).isSuperset(of: expected.keys) == false {
            guard ContinuousClock.now < deadline else {
                let missing = Set(expected.keys).subtracting(messages.keys).sorted()
                Issue.record("timed out waiting for \(missing.count) requests: \(missing.prefix(10)); worker logs in \(logs.path)\n\(workers[0].logTail)")
                return
            }
            if case .message(let message)? = try await watcher.poll(timeout: .milliseconds(200)), let key = message.keyString {
                messages[key, default: []].append(message.value)
            }
            // Once work is flowing, kill -9 a worker mid-request and start it again.
            if !killed, messages.count >= 12 {
                killed = true
                workers[0].kill9()
                // A new worker id (static membership id), the same transactional id.
                workers[0] = try WorkerProcess(binary: binary, id: "w0-r1", slot: "w0", environment: environment, logFolder: logs)
            }
        }
        #expect(killed, "the kill -9 happened")

        // Drain a little longer so late duplicates are compared too.
        let drainUntil = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < drainUntil {
            if case .message(let message)? = try await watcher.poll(timeout: .milliseconds(100)), let key = message.keyString {
                messages[key, default: []].append(message.value)
            }
        }
        try await watcher.close()

        let audit = try await AuditRepository.connect(url: database.url)
        #expect(try await audit.count() == expected.count, "exactly one audit row per request, and no others")
        var duplicates = 0
        var escalated = 0
        for (id, source) in expected {
            let row = try #require(try await audit.decision(requestID: id), "no audit row for \(id)")
            let published = try #require(messages[id], "no result or DLQ message for \(id)")
            duplicates += published.count - 1
            for payload in published {
                #expect(payload == row.publishedPayload, "message for \(id) differs from its audit row's payload")
            }
            if row.decision == .rejected {
                #expect(row.publishedTopic == topics.deadLetters)
                let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(published[0]))
                #expect(envelope.auditID == id)
                #expect(envelope.source == source)
            } else {
                #expect(row.publishedTopic == topics.results)
                let result = try JSONDecoder().decode(ModerationResult.self, from: Data(published[0]))
                #expect(result.decision.rawValue == row.decision.rawValue)
                #expect(result.generatedImageSHA256 == row.imageSHA256)
                #expect(result.imageSHA256 == result.image.flatMap { Data(base64Encoded: $0) }.map { SHA256.hex(Array($0)) })
                // Escalating tenant: the tries are in the one row and the result names the published one.
                if let summary = result.escalation {
                    let tries = try JSONSerialization.jsonObject(with: Data(try #require(row.triesJSON).utf8)) as? [[String: Any]]
                    #expect(tries?.count == summary.tries)
                    #expect(summary.publishedTry == (result.decision == .block ? nil : summary.tries))
                    if summary.tries > 1 { escalated += 1 }
                }
            }
        }
        #expect(escalated > 0, "some globex requests were escalated")
        let decisions = Set(try await audit.summary().map(\.decision.rawValue))
        #expect(decisions.isSuperset(of: ["allow", "censor", "block", "rejected"]), "\(decisions)")
        print("invariant (transactional: \(transactional)): \(expected.count) requests, \(messages.values.map(\.count).reduce(0, +)) messages, \(duplicates) identical duplicates, \(escalated) escalated")

        // Graceful shutdown: SIGTERM ends each worker cleanly.
        for worker in workers {
            let status = await worker.terminate(timeout: .seconds(20))
            #expect(status == 0, "worker \(worker.id) did not stop cleanly on SIGTERM: \(worker.logTail)")
        }
    }
}

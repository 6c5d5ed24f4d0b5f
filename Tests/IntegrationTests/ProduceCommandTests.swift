import Foundation
import Kafka
import Testing

/// `chaperone produce` reads the worker's configuration: brokers and topic from a `--config`
/// file, Kafka security from the same keys (`kafka.security_protocol`, …) as the worker; lines
/// are sent byte for byte, keyed by their request_id.
@Suite struct ProduceCommandTests {
    /// Runs `chaperone produce …` without the Kafka settings of this process's environment.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, error: String) {
        let result = try ChaperoneCommand.run(["produce"] + arguments, environment: environment, removing: ["CHAPERONE_KAFKA_"])
        return (result.status, result.error)
    }

    @Test(.timeLimit(.minutes(2)))
    func sendsEachLineAsItIsWithTheWorkersConfiguration() async throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("pc.requests", partitions: 1)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("produce-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let lines = [#"{"request_id": "p-1", "prompt": "a cat"}"#, "{oops", #"{"request_id": "p-2", "prompt": "a dog\u0000"}"#]
        let requests = folder.appendingPathComponent("requests.jsonl")
        try Data((lines.joined(separator: "\r\n") + "\n\n").utf8).write(to: requests)
        let config = folder.appendingPathComponent("chaperone.json")
        try Data(#"{"kafka": {"bootstrap_servers": "\#(cluster.bootstrapServers)"}, "topics": {"requests": "pc.requests"}}"#.utf8).write(to: config)

        let sent = try Self.run(["--config", config.path, requests.path])
        #expect(sent.status == 0, "\(sent.error)")
        #expect(sent.error.contains("sent 3 messages to pc.requests"))

        var configuration = KafkaConsumerConfiguration(bootstrapServers: cluster.bootstrapServers, groupID: "produce-check", topics: ["pc.requests"])
        configuration.autoOffsetReset = .earliest
        let consumer = try KafkaConsumer(configuration: configuration)
        var messages: [KafkaConsumerMessage] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while messages.count < 3, ContinuousClock.now < deadline {
            if case .message(let message)? = try await consumer.poll(timeout: .milliseconds(100)) { messages.append(message) }
        }
        try await consumer.close()
        #expect(messages.map { String(decoding: $0.value, as: UTF8.self) } == lines)
        #expect(messages.map { $0.key.map { String(decoding: $0, as: UTF8.self) } } == ["p-1", nil, "p-2"])

        // Kafka security comes from the worker's keys: librdkafka sees (and here refuses) them.
        let secured = try Self.run(["--config", config.path, requests.path], environment: ["CHAPERONE_KAFKA_SECURITY_PROTOCOL": "carrier-pigeon"])
        #expect(secured.status != 0)
        #expect(secured.error.contains("security.protocol"), "\(secured.error)")
        // Flags win over the file; unknown file keys are refused by name.
        let unknown = folder.appendingPathComponent("unknown.json")
        try Data(#"{"kafka": {"bootstrap_server": "x:1"}}"#.utf8).write(to: unknown)
        let refused = try Self.run(["--config", unknown.path, requests.path])
        #expect(refused.status == 78 && refused.error.contains("kafka.bootstrap_server"), "\(refused.error)")
        let both = try Self.run(["--topic", "a", "--requests-topic", "b", requests.path])
        #expect(both.status == 64 && both.error.contains("not both"), "\(both.error)")
    }
}

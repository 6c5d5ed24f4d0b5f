import Foundation
import Logging
import Testing
@testable import Kafka

/// All tests that start a mock cluster run one at a time: the mock group coordinator's
/// timers leave about a second of slack, which a loaded two-core machine can eat.
@Suite("Kafka against librdkafka's mock cluster", .serialized)
struct MockClusterTests {}

/// Shared set-up for tests against librdkafka's mock cluster.
enum KafkaTestSupport {
    /// Quiet logging: librdkafka warnings only. Set CHAPERONE_KAFKA_TEST_DEBUG=1 for librdkafka
    /// consumer-group debug logs when a group test misbehaves (or to a list of librdkafka debug
    /// contexts, such as `cgrp,consumer,topic`, for those).
    static let logger: Logger = {
        var logger = Logger(label: "chaperone.kafka.tests", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = ProcessInfo.processInfo.environment["CHAPERONE_KAFKA_TEST_DEBUG"] != nil ? .debug : .warning
        return logger
    }()

    /// A fresh cluster with the given topics (name → partitions).
    static func cluster(brokers: Int = 1, topics: [String: Int]) throws -> MockCluster {
        let cluster = try MockCluster(brokers: brokers, logger: logger)
        for (name, partitions) in topics.sorted(by: { $0.key < $1.key }) {
            try cluster.createTopic(name, partitions: partitions)
        }
        return cluster
    }

    static func producer(_ cluster: MockCluster, transactionalID: String? = nil) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers)
        configuration.transactionalID = transactionalID
        configuration.linger = .milliseconds(1)
        return try KafkaProducer(configuration: configuration, logger: logger)
    }

    /// A fresh single-partition topic holding `count` records: keys `k0`…, values `v0`….
    static func clusterWithRecords(topic: String, count: Int) async throws -> MockCluster {
        let cluster = try cluster(topics: [topic: 1])
        let producer = try producer(cluster)
        for index in 0..<count {
            try await producer.send(topic: topic, key: "k\(index)", value: bytes("v\(index)"))
        }
        try await producer.close()
        return cluster
    }

    /// A consumer tuned for quick group operations on the mock cluster.
    static func consumer(
        _ cluster: MockCluster, group: String, topics: [String],
        isolation: KafkaConsumerConfiguration.IsolationLevel = .readCommitted, logger: Logger = logger,
        configure: (inout KafkaConsumerConfiguration) -> Void = { _ in }
    ) throws -> KafkaConsumer {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: cluster.bootstrapServers, groupID: group, topics: topics)
        configuration.isolationLevel = isolation
        configuration.sessionTimeout = .seconds(6)
        configuration.heartbeatInterval = .milliseconds(300)
        configuration.maxPollInterval = .seconds(6)
        configuration.additionalProperties = ["fetch.wait.max.ms": "50"]
        if let debug = ProcessInfo.processInfo.environment["CHAPERONE_KAFKA_TEST_DEBUG"] {
            configuration.additionalProperties["debug"] = debug == "1" ? "cgrp,consumer" : debug
        }
        configure(&configuration)
        return try KafkaConsumer(configuration: configuration, logger: logger)
    }

    /// Everything one consumer saw while polling.
    struct Observed {
        var messages: [KafkaConsumerMessage] = []
        var events: [KafkaConsumerEvent] = []

        var values: [String] { messages.map { String(decoding: $0.value, as: UTF8.self) } }
        var revocations: [(partitions: [KafkaTopicPartition], lost: Bool)] {
            events.compactMap { if case .partitionsRevoked(let p, let lost) = $0 { (p, lost) } else { nil } }
        }
        var assignments: [[KafkaTopicPartition]] {
            events.compactMap { if case .partitionsAssigned(let p) = $0 { p } else { nil } }
        }
    }

    /// Polls until `done` holds for what was seen or the liveness deadline passes.
    /// The deadline only keeps a broken test from hanging; nothing asserts on speed.
    static func poll(
        _ consumer: KafkaConsumer, into observed: inout Observed, for limit: Duration = .seconds(60),
        until done: (Observed) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + limit
        while !done(observed), ContinuousClock.now < deadline {
            switch try await consumer.poll(timeout: .milliseconds(100)) {
            case .message(let message)?: observed.messages.append(message)
            case let event?: observed.events.append(event)
            case nil: break
            }
        }
    }

    /// Polls until `count` messages arrived (or the liveness deadline passes).
    static func messages(_ consumer: KafkaConsumer, count: Int, for limit: Duration = .seconds(60)) async throws -> Observed {
        var observed = Observed()
        try await poll(consumer, into: &observed, for: limit) { $0.messages.count >= count }
        return observed
    }

    /// Polls for a fixed time, serving the group protocol, and returns what was seen.
    static func keepPolling(_ consumer: KafkaConsumer, for duration: Duration) async throws -> Observed {
        var observed = Observed()
        try await poll(consumer, into: &observed, for: duration) { _ in false }
        return observed
    }

    static func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
}

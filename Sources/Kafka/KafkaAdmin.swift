import Logging

/// A topic to create.
public struct KafkaTopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int

    public init(name: String, partitions: Int, replicationFactor: Int = 1) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
    }
}

/// Cluster administration: create topics and read their partition counts.
///
/// librdkafka's mock cluster does not implement the CreateTopics request; create topics on it
/// with `MockCluster.createTopic` instead.
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient
    private let executor = BlockingExecutor(label: "chaperone.kafka.admin")

    public init(configuration: KafkaAdminConfiguration, logger: Logger = Logger(label: "chaperone.kafka.admin")) throws(KafkaError) {
        client = try RDKafkaClient.make(kind: .producer, properties: configuration.librdkafkaProperties, logger: logger)
    }

    /// Creates `topics`. With `ignoreExisting`, a topic that already exists is not an error
    /// (its partition count is left as it is). Throws the first failure.
    public func createTopics(
        _ topics: [KafkaTopicSpecification], ignoreExisting: Bool = true, timeout: Duration = .seconds(30)
    ) async throws {
        let client = client
        let milliseconds = timeout.roundedUpMilliseconds
        let outcome = try await executor.run { try client.createTopics(topics, timeoutMilliseconds: milliseconds) }
        for topic in topics {
            guard let result = outcome[topic.name] else {
                throw KafkaError.local(.state, name: "_STATE", reason: "no result from the broker", context: "create topic \(topic.name)")
            }
            if let error = result, !(ignoreExisting && error.code == .topicAlreadyExists) {
                throw error
            }
        }
    }

    /// The number of partitions of `topic`.
    /// - Throws: `KafkaError` with code `.unknownTopicOrPartition` when the topic does not exist.
    public func partitionCount(of topic: String, timeout: Duration = .seconds(10)) async throws -> Int {
        let client = client
        let milliseconds = timeout.roundedUpMilliseconds
        let counts = try await executor.run { try client.topicPartitionCounts(timeoutMilliseconds: milliseconds) }
        guard let count = counts[topic] else {
            throw KafkaError(
                code: .unknownTopicOrPartition, name: "UNKNOWN_TOPIC_OR_PART", reason: "the cluster reports no such topic",
                context: "describe topic \(topic)"
            )
        }
        return count
    }
}

/// One partition of one topic.
public struct KafkaTopicPartition: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A partition with an offset: a commit position (the offset of the next message to consume)
/// or a committed position read back from the group coordinator.
public struct KafkaTopicPartitionOffset: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    /// The offset; `nil` when the group has no committed offset for the partition.
    public var offset: Int64?

    public init(topic: String, partition: Int32, offset: Int64?) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public init(_ topicPartition: KafkaTopicPartition, offset: Int64?) {
        self.init(topic: topicPartition.topic, partition: topicPartition.partition, offset: offset)
    }

    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    public var description: String { "\(topic)[\(partition)]@\(offset.map(String.init) ?? "none")" }
}

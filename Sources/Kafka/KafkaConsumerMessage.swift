import Foundation

/// A record read by `KafkaConsumer`, with its position and raw bytes.
public struct KafkaConsumerMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The key bytes, or nil for a record without a key.
    public var key: [UInt8]?
    /// The value bytes (empty for an empty or null value).
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// The record timestamp (create time or log-append time), when the broker provides one.
    public var timestamp: Date?

    public init(
        topic: String, partition: Int32, offset: Int64,
        key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [], timestamp: Date? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// The position to commit once this message is fully processed: its offset plus one.
    public var nextOffset: KafkaTopicPartitionOffset {
        KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: offset + 1)
    }

    /// The key decoded as UTF-8, or nil when absent or not valid UTF-8.
    public var keyString: String? {
        guard let key else { return nil }
        return String(validating: key, as: UTF8.self)
    }

    /// The first header with this name.
    public func header(_ name: String) -> KafkaHeader? {
        headers.first { $0.name == name }
    }
}

/// Where a produced message was stored, from its delivery report.
public struct KafkaDeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

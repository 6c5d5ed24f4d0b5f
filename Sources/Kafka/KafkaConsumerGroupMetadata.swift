/// A consumer's group membership (group id, generation, member id) as a value, to pass to
/// `KafkaProducer.sendOffsetsToTransaction(_:groupMetadata:)`.
///
/// Stored in librdkafka's own serialized form so it can cross tasks and threads freely.
public struct KafkaConsumerGroupMetadata: Sendable, Hashable {
    /// librdkafka's serialization (`rd_kafka_consumer_group_metadata_write`).
    let serialized: [UInt8]

    init(serialized: [UInt8]) {
        self.serialized = serialized
    }
}

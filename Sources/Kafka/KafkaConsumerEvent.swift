/// What one `KafkaConsumer.poll(timeout:)` call returns.
public enum KafkaConsumerEvent: Sendable {
    /// A record to process.
    case message(KafkaConsumerMessage)
    /// The group gave this consumer these partitions (in addition to what it already had when
    /// the cooperative protocol is used; the whole new assignment with the eager protocol).
    case partitionsAssigned([KafkaTopicPartition])
    /// These partitions were taken away. Abandon their in-flight work: another member may
    /// already be processing the same records. `lost` is true when the consumer was thrown out
    /// of the group (e.g. session timeout) rather than asked to give the partitions back.
    case partitionsRevoked([KafkaTopicPartition], lost: Bool)
    /// A non-fatal error reported by the client (broker connection problems and the like).
    /// The consumer keeps working; fatal errors are thrown by `poll` instead.
    case error(KafkaError)
}

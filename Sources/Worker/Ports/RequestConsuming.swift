import Contracts

/// The consumer as the worker loop uses it: poll events, pause and resume everything.
/// Implemented over `Kafka.KafkaConsumer`; tests use an in-memory queue.
public protocol RequestConsuming: Sendable {
    /// Waits up to `timeout` for the next event; polling also serves the group protocol, so
    /// the loop calls it continually, busy or not.
    func poll(timeout: Duration) async throws -> ConsumerEvent?
    func pauseAll() async throws
    func resumeAll() async throws
    func close() async throws
}

/// What a poll returned.
public enum ConsumerEvent: Sendable, Equatable {
    case message(IncomingMessage)
    case assigned([ConsumerFlow.PartitionID])
    case revoked([ConsumerFlow.PartitionID])
}

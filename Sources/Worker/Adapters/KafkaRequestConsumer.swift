import Contracts
import Kafka

/// ``RequestConsuming`` over a `KafkaConsumer` subscribed to the requests topic.
public struct KafkaRequestConsumer: RequestConsuming {
    public let consumer: KafkaConsumer

    public init(consumer: KafkaConsumer) {
        self.consumer = consumer
    }

    public func poll(timeout: Duration) async throws -> ConsumerEvent? {
        switch try await consumer.poll(timeout: timeout) {
        case .message(let message)?:
            var headers: [String: String] = [:]
            for header in message.headers {
                guard let value = header.value, let text = String(validating: value, as: UTF8.self) else { continue }
                headers[header.name] = text
            }
            return .message(IncomingMessage(
                source: SourcePosition(topic: message.topic, partition: message.partition, offset: message.offset),
                key: message.key, value: message.value, headers: headers))
        case .partitionsAssigned(let partitions)?:
            return .assigned(partitions.map { ConsumerFlow.PartitionID(topic: $0.topic, partition: $0.partition) })
        case .partitionsRevoked(let partitions, _)?:
            return .revoked(partitions.map { ConsumerFlow.PartitionID(topic: $0.topic, partition: $0.partition) })
        case .error(let error)?:
            // Non-fatal client errors (a broker connection dropped): librdkafka recovers by itself.
            throw error
        case nil:
            return nil
        }
    }

    public func pauseAll() async throws { try await consumer.pauseAll() }
    public func resumeAll() async throws { try await consumer.resumeAll() }
    public func close() async throws { try await consumer.close() }
}

/// ``ResultPublishing`` over a `KafkaProducer` (idempotent, acks=all) and the consumer whose
/// offsets it commits. With a transactional id, publish and offset commit form one Kafka
/// transaction (`sendOffsetsToTransaction`); otherwise the offset is committed after the
/// publish is acknowledged.
public final class KafkaResultPublisher: ResultPublishing {
    public let producer: KafkaProducer
    public let consumer: KafkaConsumer
    public let isTransactional: Bool

    /// Creates the publisher; with `transactional`, call ``prepare()`` once before use.
    public init(producer: KafkaProducer, consumer: KafkaConsumer) {
        self.producer = producer
        self.consumer = consumer
        self.isTransactional = producer.configuration.transactionalID != nil
    }

    /// Registers the transactional id (fencing an older instance with the same id).
    public func prepare() async throws {
        if isTransactional { try await producer.initTransactions() }
    }

    public func publish(topic: String, key: String, payload: [UInt8]) async throws {
        try await producer.send(topic: topic, key: key, value: payload, headers: Self.traceHeaders())
    }

    /// The current task's W3C trace context (the publish span, or the request's passed-through
    /// context), so the consumers of results continue the request's trace.
    static func traceHeaders() -> [KafkaHeader] {
        RequestTracing.currentHeaders().sorted { $0.key < $1.key }.map { KafkaHeader(name: $0.key, value: Array($0.value.utf8)) }
    }

    public func commit(_ consumed: SourcePosition) async throws {
        try await consumer.commit([KafkaTopicPartitionOffset(topic: consumed.topic, partition: consumed.partition, offset: consumed.offset + 1)])
    }

    public func publishAndCommit(topic: String, key: String, payload: [UInt8], offset consumed: SourcePosition) async throws {
        try producer.beginTransaction()
        do {
            try await producer.send(topic: topic, key: key, value: payload, headers: Self.traceHeaders())
            let offsets = [KafkaTopicPartitionOffset(topic: consumed.topic, partition: consumed.partition, offset: consumed.offset + 1)]
            try await producer.sendOffsetsToTransaction(offsets, groupMetadata: try await consumer.groupMetadata())
            try await producer.commitTransaction()
        } catch {
            try? await producer.abortTransaction()
            throw error
        }
    }
}

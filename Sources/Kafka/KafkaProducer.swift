import Logging
import Synchronization

/// Publishes records and waits for each delivery report; optionally transactional.
///
/// `send` enqueues without blocking and suspends until the broker acknowledged the record
/// (or delivery failed), so a caller that commits consumer offsets after `send` returns never
/// commits past an unacknowledged result. Delivery reports are served by a dedicated poll
/// thread; blocking calls (`flush`, the transaction calls) run on a private dispatch queue,
/// never on Swift's cooperative pool.
///
/// Transactions (set `KafkaProducerConfiguration.transactionalID`):
/// ```swift
/// try await producer.initTransactions()          // once
/// try producer.beginTransaction()
/// _ = try await producer.send(topic: "chaperone.results", key: key, value: value)
/// try await producer.sendOffsetsToTransaction([message.nextOffset], groupMetadata: metadata)
/// try await producer.commitTransaction()
/// ```
/// On failure look at `KafkaError.recovery`: `.retry` the same call, `.abortTransaction`
/// then start over, or `.fatal`: close this producer and create a new one.
public final class KafkaProducer: Sendable {
    public let configuration: KafkaProducerConfiguration
    private let client: RDKafkaClient
    private let pollThread: RDKafkaPollThread
    private let executor = BlockingExecutor(label: "chaperone.kafka.producer")
    private let closed = Atomic(false)

    /// Creates the producer; an unknown property or a bad value is a `KafkaError` here.
    public init(configuration: KafkaProducerConfiguration, logger: Logger = Logger(label: "chaperone.kafka.producer")) throws(KafkaError) {
        self.configuration = configuration
        client = try RDKafkaClient.make(
            kind: .producer, properties: configuration.librdkafkaProperties, logger: logger, deliveryReports: true
        )
        pollThread = RDKafkaPollThread(client: client, name: "chaperone.kafka.producer.poll")
    }

    deinit {
        pollThread.stop()
    }

    /// Publishes one record and returns where it was stored once the broker acknowledged it.
    ///
    /// - Parameters:
    ///   - partition: an explicit partition, or nil to let the partitioner hash the key.
    /// - Throws: `KafkaError` when the record cannot be enqueued (`.queueFull` is retriable)
    ///   or its delivery fails. Cancelling the task does not cancel a record in flight: the
    ///   call returns within `deliveryTimeout`.
    @discardableResult
    public func send(
        topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [], partition: Int32? = nil
    ) async throws -> KafkaDeliveryReport {
        let context = "send to topic \(topic)"
        guard !closed.load(ordering: .acquiring) else { throw KafkaError.closed(context) }
        return try await withCheckedThrowingContinuation { continuation in
            let waiter = RDKafkaDeliveryWaiter(continuation: continuation, context: context)
            if let error = client.produce(
                topic: topic, partition: partition, key: key, value: value, headers: headers, waiter: waiter
            ) {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Publishes one record whose key is a UTF-8 string (such as a request id).
    @discardableResult
    public func send(
        topic: String, key: String, value: [UInt8], headers: [KafkaHeader] = [], partition: Int32? = nil
    ) async throws -> KafkaDeliveryReport {
        try await send(topic: topic, key: Array(key.utf8), value: value, headers: headers, partition: partition)
    }

    /// Waits until every record sent so far has its delivery report.
    public func flush(timeout: Duration = .seconds(30)) async throws {
        let client = client
        try await executor.run { try client.flush(timeoutMilliseconds: timeout.roundedUpMilliseconds) }
    }

    /// Registers the transactional id with the coordinator and fences older producers with
    /// the same id. Call once before the first transaction.
    public func initTransactions(timeout: Duration = .seconds(30)) async throws {
        let client = client
        try await executor.run { try client.initTransactions(timeoutMilliseconds: timeout.roundedUpMilliseconds) }
    }

    /// Starts a transaction: records sent until commit or abort belong to it.
    public func beginTransaction() throws {
        try client.beginTransaction()
    }

    /// Adds consumer offsets to the current transaction, so they are committed if and only
    /// if the transaction commits. `offsets` are the next offsets to consume
    /// (`KafkaConsumerMessage.nextOffset`); `groupMetadata` comes from
    /// `KafkaConsumer.groupMetadata()`.
    public func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartitionOffset], groupMetadata: KafkaConsumerGroupMetadata, timeout: Duration = .seconds(30)
    ) async throws {
        let client = client
        try await executor.run {
            try client.sendOffsetsToTransaction(
                offsets, groupMetadata: groupMetadata, timeoutMilliseconds: timeout.roundedUpMilliseconds
            )
        }
    }

    /// Flushes and commits the current transaction.
    public func commitTransaction(timeout: Duration = .seconds(30)) async throws {
        let client = client
        try await executor.run { try client.commitTransaction(timeoutMilliseconds: timeout.roundedUpMilliseconds) }
    }

    /// Aborts the current transaction: its records become invisible to read_committed consumers.
    public func abortTransaction(timeout: Duration = .seconds(30)) async throws {
        let client = client
        try await executor.run { try client.abortTransaction(timeoutMilliseconds: timeout.roundedUpMilliseconds) }
    }

    /// Flushes outstanding records, then stops serving delivery reports. Further sends throw.
    /// Records still undelivered when `timeout` expires are failed (their `send` throws a
    /// purge error) and the flush error is thrown.
    public func close(timeout: Duration = .seconds(30)) async throws {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let client = client
        let pollThread = pollThread
        try await executor.run {
            defer { pollThread.stop() }
            do {
                try client.flush(timeoutMilliseconds: timeout.roundedUpMilliseconds)
            } catch {
                client.purgeAndServeDeliveryReports()
                throw error
            }
        }
    }
}

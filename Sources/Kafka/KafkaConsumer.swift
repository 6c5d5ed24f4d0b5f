import Logging
import Synchronization

/// Reads records as a member of a consumer group, with explicit commits and rebalance events.
///
/// Every call that touches librdkafka runs on one private serial dispatch queue (never on
/// Swift's cooperative pool), so `poll`, pauses, commits and the rebalance handling inside
/// `poll` never interleave.
///
/// ## Staying in the group while busy
/// A generation can take minutes. librdkafka leaves the group when the application does not
/// call `poll` within `maxPollInterval`, so do not raise that interval; keep polling instead:
/// ```swift
/// while running {
///     guard case .message(let message)? = try await consumer.poll() else { continue }
///     try await consumer.pauseAll()                 // stop fetching, stay in the group
///     let job = Job(message)                        // runs the generation in a task
///     var revoked = false
///     while !job.isDone {                           // a flag the task sets at the end
///         if case .partitionsRevoked(let partitions, _)? = try await consumer.poll(),
///            partitions.contains(message.topicPartition) {
///             job.cancel(); revoked = true          // another member takes it over
///         }
///     }
///     if !revoked { try await consumer.commit(message) }   // after results are acknowledged
///     try await consumer.resumeAll()
/// }
/// ```
/// A paused consumer returns no messages, only rebalance and error events. `pauseAll()` also
/// pauses partitions assigned by a rebalance while it is in effect, until `resumeAll()`.
/// Rebalance events are delivered in order with messages, so a message returned after a
/// revocation belongs to the new assignment.
///
/// Call `close()` before dropping the consumer so it leaves the group at once (unless it is a
/// static member, see `close()`); otherwise
/// `deinit` closes it, blocking the releasing thread while librdkafka leaves the group.
public final class KafkaConsumer: Sendable {
    public let configuration: KafkaConsumerConfiguration
    private let client: RDKafkaClient
    private let executor = BlockingExecutor(label: "chaperone.kafka.consumer")
    private let closed = Atomic(false)

    /// Creates the consumer and subscribes to `configuration.topics`; an unknown property, a
    /// bad value, or an attempt to turn on auto commit is a `KafkaError` here.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger = Logger(label: "chaperone.kafka.consumer")) throws(KafkaError) {
        for (key, required) in KafkaConsumerConfiguration.enforcedProperties {
            if let value = configuration.additionalProperties[key], value != required {
                throw KafkaError(
                    code: .invalidArgument, name: "_INVALID_ARG",
                    reason: "must be \(required): offsets are stored and committed explicitly",
                    context: "configuration property '\(key)'"
                )
            }
        }
        guard !configuration.topics.isEmpty else {
            throw KafkaError(
                code: .invalidArgument, name: "_INVALID_ARG", reason: "no topics to subscribe to",
                context: "consumer configuration for group \(configuration.groupID)"
            )
        }
        self.configuration = configuration
        client = try RDKafkaClient.make(
            kind: .consumer, properties: configuration.librdkafkaProperties, logger: logger, rebalanceEvents: true
        )
        try client.subscribe(configuration.topics)
    }

    /// Waits up to `timeout` for the next event: a message, a rebalance (assignment or
    /// revocation), or a non-fatal error. Returns nil when nothing happened. Call it often,
    /// also while busy with paused partitions: it serves the group protocol.
    /// - Throws: `KafkaError` when the consumer is closed or hit a fatal error.
    public func poll(timeout: Duration = .milliseconds(100)) async throws -> KafkaConsumerEvent? {
        let client = try open("poll")
        let milliseconds = timeout.roundedUpMilliseconds
        return try await executor.run { try client.pollConsumer(timeoutMilliseconds: milliseconds) }
    }

    /// Commits positions and waits for the group coordinator's answer. Each offset is the next
    /// one to consume.
    ///
    /// The wait runs in short slices on the consumer's queue, so `poll` calls from other tasks
    /// (and the rebalance events they deliver) go on while the coordinator is slow or away.
    /// - Throws: `KafkaError` with code `timedOut` when no answer came within `timeout` (the
    ///   offsets may still be committed later; committing them again is harmless), or the
    ///   broker's error.
    public func commit(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) async throws {
        guard !offsets.isEmpty else { return }
        let client = try open("commit")
        let pending = try await executor.run { try client.startCommit(offsets) }
        let deadline = ContinuousClock.now + timeout
        while true {
            let slice = min(Self.commitWaitSlice, max(deadline - ContinuousClock.now, .zero)).roundedUpMilliseconds
            if try await executor.run({ try client.awaitCommit(pending, timeoutMilliseconds: slice) }) { return }
            guard ContinuousClock.now < deadline else {
                throw KafkaError(code: .timedOut, name: "_TIMED_OUT", reason: "no answer from the group coordinator within \(timeout)", context: "commit \(offsets)", isRetriable: true)
            }
            _ = try open("commit")
        }
    }

    /// Commits the position after `message` (its offset plus one); see `commit(_:timeout:)`.
    public func commit(_ message: KafkaConsumerMessage, timeout: Duration = .seconds(10)) async throws {
        try await commit([message.nextOffset], timeout: timeout)
    }

    /// How long one turn of a commit's wait holds the consumer's queue.
    static let commitWaitSlice: Duration = .milliseconds(20)

    /// The group's committed positions for `partitions` (nil offset: nothing committed).
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws -> [KafkaTopicPartitionOffset] {
        let client = try open("committed")
        let milliseconds = timeout.roundedUpMilliseconds
        return try await executor.run { try client.committed(partitions, timeoutMilliseconds: milliseconds) }
    }

    /// Stops fetching from `partitions` (they stay assigned; the pause survives rebalances).
    public func pause(_ partitions: [KafkaTopicPartition]) async throws {
        let client = try open("pause")
        try await executor.run {
            client.callbackContext.consumerState.withLock { $0.pause.pause(partitions) }
            try client.setPaused(partitions, paused: true)
        }
    }

    /// Fetches from `partitions` again.
    public func resume(_ partitions: [KafkaTopicPartition]) async throws {
        let client = try open("resume")
        try await executor.run {
            client.callbackContext.consumerState.withLock { $0.pause.resume(partitions) }
            try client.setPaused(partitions, paused: false)
        }
    }

    /// Pauses every assigned partition, and any assigned later, until `resumeAll()`.
    public func pauseAll() async throws {
        let client = try open("pauseAll")
        try await executor.run {
            client.callbackContext.consumerState.withLock { $0.pause.pauseAll() }
            try client.setPaused(try client.assignment(), paused: true)
        }
    }

    /// Resumes every assigned partition and forgets all pauses. Partitions assigned later,
    /// also ones revoked while paused, are resumed when they are assigned.
    public func resumeAll() async throws {
        let client = try open("resumeAll")
        try await executor.run {
            client.callbackContext.consumerState.withLock { $0.pause.resumeAll() }
            try client.setPaused(try client.assignment(), paused: false)
        }
    }

    /// The partitions currently assigned to this consumer.
    public func assignment() async throws -> [KafkaTopicPartition] {
        let client = try open("assignment")
        return try await executor.run { try client.assignment() }
    }

    /// The consumer's group membership, for `KafkaProducer.sendOffsetsToTransaction`.
    /// Read it after the latest rebalance: it carries the group generation.
    public func groupMetadata() async throws -> KafkaConsumerGroupMetadata {
        let client = try open("groupMetadata")
        return try await executor.run { try client.groupMetadata() }
    }

    /// Leaves the group (its partitions move to other members at once) and stops fetching.
    /// A static member (`groupInstanceID` set) does not leave: its partitions stay with it until
    /// the session timeout, so a restart with the same id within it gets them back without a
    /// rebalance. Nothing is committed implicitly. Further calls throw.
    public func close() async throws {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let client = client
        try await executor.run { try client.closeConsumer() }
    }

    private func open(_ operation: String) throws(KafkaError) -> RDKafkaClient {
        guard !closed.load(ordering: .acquiring) else { throw KafkaError.closed("consumer \(operation)") }
        return client
    }
}

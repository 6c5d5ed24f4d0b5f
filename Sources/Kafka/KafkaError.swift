/// The one error type of the Kafka module.
///
/// Carries librdkafka's error code and name, what the module was doing when it failed
/// (`context`, e.g. "send to topic chaperone.results" or "configuration property acks"),
/// how to recover (`recovery`), and where in the source it was raised.
///
/// `description` never contains message keys, values or header values, and never the value
/// of a sensitive configuration property, so errors can be logged as they are.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// A librdkafka error code (`rd_kafka_resp_err_t`).
    ///
    /// Negative codes are raised by the client itself; positive codes come from the broker
    /// and are Kafka protocol error codes. The named constants cover the codes the project
    /// reacts to; any other code is still representable through `init(rawValue:)`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let noError = Code(rawValue: 0)
        /// A message could not be delivered in `delivery.timeout.ms`.
        public static let messageTimedOut = Code(rawValue: -192)
        /// Local: an operation timed out.
        public static let timedOut = Code(rawValue: -185)
        /// Local: an argument (for example a configuration value) is invalid.
        public static let invalidArgument = Code(rawValue: -186)
        /// Local: the producer queue is full; retry after a delay.
        public static let queueFull = Code(rawValue: -184)
        /// Local: the client hit a fatal error and must be recreated.
        public static let fatal = Code(rawValue: -150)
        /// Local: the operation is not valid in the client's current state.
        public static let state = Code(rawValue: -172)
        /// Local: all brokers are down.
        public static let allBrokersDown = Code(rawValue: -187)
        /// Local: the client has been closed.
        public static let destroyed = Code(rawValue: -197)
        /// Local: unknown partition.
        public static let unknownPartitionLocal = Code(rawValue: -190)
        /// Local: unknown topic.
        public static let unknownTopicLocal = Code(rawValue: -188)
        /// Broker: a message is invalid (its CRC or format does not check out).
        public static let invalidMessage = Code(rawValue: 2)
        /// Broker: topic or partition does not exist.
        public static let unknownTopicOrPartition = Code(rawValue: 3)
        /// Broker: the leader of a partition is not available.
        public static let leaderNotAvailable = Code(rawValue: 5)
        /// Broker: this broker is not the partition leader.
        public static let notLeaderForPartition = Code(rawValue: 6)
        /// Broker: request timed out.
        public static let requestTimedOut = Code(rawValue: 7)
        /// A message is larger than `message.max.bytes` (raised by the producer itself at
        /// `send`) or than the topic's `max.message.bytes` (raised by the broker).
        public static let messageSizeTooLarge = Code(rawValue: 10)
        /// Broker: the group coordinator is not available.
        public static let coordinatorNotAvailable = Code(rawValue: 15)
        /// Broker: this broker is not the coordinator.
        public static let notCoordinator = Code(rawValue: 16)
        /// Broker: a batch of records is larger than the broker accepts.
        public static let recordListTooLarge = Code(rawValue: 18)
        /// Broker: not enough in-sync replicas.
        public static let notEnoughReplicas = Code(rawValue: 19)
        /// Broker: the group generation is stale (a rebalance happened).
        public static let illegalGeneration = Code(rawValue: 22)
        /// Broker: the member is not known to the group.
        public static let unknownMemberID = Code(rawValue: 25)
        /// Broker: the group is rebalancing.
        public static let rebalanceInProgress = Code(rawValue: 27)
        /// Broker: the topic already exists.
        public static let topicAlreadyExists = Code(rawValue: 36)
        /// Broker: the broker does not support the request.
        public static let unsupportedVersion = Code(rawValue: 35)
        /// Broker: the producer was fenced by a newer instance with the same transactional id.
        public static let producerFenced = Code(rawValue: 90)
        /// Broker: invalid producer epoch.
        public static let invalidProducerEpoch = Code(rawValue: 47)
        /// Broker: a concurrent transaction is being committed or aborted.
        public static let concurrentTransactions = Code(rawValue: 51)
        /// Broker: a record failed the broker's validation (for example a compacted topic's
        /// record without a key).
        public static let invalidRecord = Code(rawValue: 87)

        public var description: String { "\(rawValue)" }
    }

    /// What the caller should do about an error.
    public enum Recovery: Sendable, Hashable {
        /// Retry the same operation (it may succeed later).
        case retry
        /// Abort the current transaction (`abortTransaction()`), then start over.
        case abortTransaction
        /// The client is unusable: close it and create a new one.
        case fatal
        /// Not recoverable by retrying: fix the input or configuration.
        case none
    }

    /// librdkafka's error code.
    public var code: Code
    /// librdkafka's symbolic error name, such as `_MSG_TIMED_OUT` or `TOPIC_ALREADY_EXISTS`.
    public var name: String
    /// librdkafka's human-readable reason (never contains message payloads).
    public var reason: String
    /// What this module was doing: the operation and its subject (topic, property, ...).
    public var context: String
    /// The operation may succeed if retried.
    public var isRetriable: Bool
    /// The client hit a fatal error and must be recreated.
    public var isFatal: Bool
    /// The current transaction can no longer commit and must be aborted.
    public var transactionRequiresAbort: Bool
    /// Source file that raised the error.
    public var file: String
    /// Source line that raised the error.
    public var line: UInt

    public init(
        code: Code,
        name: String,
        reason: String,
        context: String,
        isRetriable: Bool = false,
        isFatal: Bool = false,
        transactionRequiresAbort: Bool = false,
        file: String = #fileID,
        line: UInt = #line
    ) {
        self.code = code
        self.name = name
        self.reason = reason
        self.context = context
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.transactionRequiresAbort = transactionRequiresAbort
        self.file = file
        self.line = line
    }

    /// Error codes about the message itself, for ``isPermanentForMessage``.
    static let permanentForMessageCodes: Set<Code> = [
        .messageSizeTooLarge, .invalidMessage, .recordListTooLarge, .invalidRecord, .invalidArgument,
    ]

    /// True when sending the same message again can never succeed: it is too large for the
    /// producer's `message.max.bytes` or the topic (`MSG_SIZE_TOO_LARGE`, `RECORD_LIST_TOO_LARGE`),
    /// or its content was refused (`INVALID_MSG`, `INVALID_RECORD`, or `_INVALID_ARG` from
    /// `send`). A caller that retries failed sends should stop retrying such a message and
    /// send something else in its place (a smaller result, a dead letter). Delivery timeouts
    /// (`_MSG_TIMED_OUT`) and broker or connection trouble are not permanent. Meant for
    /// errors of `send` and its delivery report; a fatal client error is never reported as
    /// permanent for the message (the client is what must be replaced).
    public var isPermanentForMessage: Bool {
        !isFatal && Self.permanentForMessageCodes.contains(code)
    }

    /// The recovery class: fatal first, then abortable, then retriable.
    public var recovery: Recovery {
        if isFatal { return .fatal }
        if transactionRequiresAbort { return .abortTransaction }
        if isRetriable { return .retry }
        return .none
    }

    public var description: String {
        var flags: [String] = []
        if isFatal { flags.append("fatal") }
        if transactionRequiresAbort { flags.append("transaction must abort") }
        if isRetriable { flags.append("retriable") }
        let suffix = flags.isEmpty ? "" : " [\(flags.joined(separator: ", "))]"
        return "Kafka error \(name) (\(code.rawValue)) in \(context): \(reason)\(suffix) at \(file):\(line)"
    }
}

extension KafkaError {
    /// An error raised by this module itself (not by librdkafka), such as a closed client.
    static func local(
        _ code: Code, name: String, reason: String, context: String,
        isRetriable: Bool = false, file: String = #fileID, line: UInt = #line
    ) -> KafkaError {
        KafkaError(
            code: code, name: name, reason: reason, context: context,
            isRetriable: isRetriable, file: file, line: line
        )
    }

    /// The client was closed before or during the operation.
    static func closed(_ context: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        .local(.destroyed, name: "_DESTROY", reason: "the client is closed", context: context, file: file, line: line)
    }
}

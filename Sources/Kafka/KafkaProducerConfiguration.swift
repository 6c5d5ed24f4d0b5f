/// Settings of a `KafkaProducer`.
///
/// The typed fields cover what the project relies on; `additionalProperties` passes any other
/// librdkafka property through unchanged (security settings such as `security.protocol`,
/// `sasl.mechanism`, `sasl.username`, `ssl.ca.location`, or tuning). Additional properties are
/// applied last, so they override the typed fields.
public struct KafkaProducerConfiguration: Sendable {
    /// How many replicas must acknowledge a write.
    public enum Acks: String, Sendable {
        /// All in-sync replicas (`acks=all`); required for idempotence.
        case all = "all"
        /// The partition leader only.
        case leader = "1"
        /// No acknowledgement at all.
        case none = "0"
    }

    /// Comma-separated `host:port` list of brokers to bootstrap from.
    public var bootstrapServers: String
    /// Client id reported to brokers (shows in broker logs and quotas). Default: `chaperone`.
    public var clientID: String = "chaperone"
    /// Exactly-once per partition delivery (no duplicates from internal retries). Default: true.
    public var enableIdempotence: Bool = true
    /// Required acknowledgements. Default: `.all`.
    public var acks: Acks = .all
    /// When set, the producer is transactional: call `initTransactions()` once, then wrap
    /// sends in `beginTransaction()` / `commitTransaction()`. Default: nil.
    public var transactionalID: String?
    /// Time a message may take from `send` to its delivery report, retries included.
    /// Default: 30 s.
    public var deliveryTimeout: Duration = .seconds(30)
    /// Time the broker keeps an open transaction before aborting it. Default: 60 s.
    public var transactionTimeout: Duration = .seconds(60)
    /// Time to wait for more messages before sending a batch. Default: 5 ms.
    public var linger: Duration = .milliseconds(5)
    /// Largest message the producer accepts, in bytes (librdkafka `message.max.bytes`, 1000 to
    /// 1,000,000,000). A larger message fails at `send` with `MSG_SIZE_TOO_LARGE`, which
    /// ``KafkaError/isPermanentForMessage`` recognises. Keep it at or below the topic's
    /// `max.message.bytes` on the brokers, which reject larger batches. Default: 1,000,000.
    public var messageMaxBytes: Int = 1_000_000
    /// Any other librdkafka properties, applied last. Default: empty.
    public var additionalProperties: [String: String] = [:]

    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    /// The librdkafka properties, in the order they are applied.
    var librdkafkaProperties: [(key: String, value: String)] {
        var properties: [(key: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            ("enable.idempotence", enableIdempotence ? "true" : "false"),
            ("acks", acks.rawValue),
            ("delivery.timeout.ms", String(deliveryTimeout.roundedUpMilliseconds)),
            ("linger.ms", String(linger.roundedUpMilliseconds)),
            ("message.max.bytes", String(messageMaxBytes)),
        ]
        if let transactionalID {
            properties.append(("transactional.id", transactionalID))
            properties.append(("transaction.timeout.ms", String(transactionTimeout.roundedUpMilliseconds)))
        }
        properties += additionalProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return properties
    }
}

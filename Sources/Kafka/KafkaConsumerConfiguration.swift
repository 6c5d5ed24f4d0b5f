/// Settings of a `KafkaConsumer` in a consumer group.
///
/// Offsets are always committed explicitly: librdkafka's auto commit and auto offset store
/// are off and cannot be turned on through `additionalProperties`.
public struct KafkaConsumerConfiguration: Sendable {
    /// Which records a consumer sees from transactional producers.
    public enum IsolationLevel: String, Sendable {
        /// Only records of committed transactions (and non-transactional records).
        case readCommitted = "read_committed"
        /// Everything, including records of open or aborted transactions.
        case readUncommitted = "read_uncommitted"
    }

    /// Where to start when the group has no committed offset for a partition.
    public enum OffsetReset: String, Sendable {
        case earliest
        case latest
        /// Raise an error instead of choosing.
        case error
    }

    /// How the group splits partitions between members.
    public enum AssignmentStrategy: String, Sendable {
        /// Eager: every rebalance revokes all partitions, then assigns again.
        case range = "range"
        /// Eager, round-robin over all subscribed partitions.
        case roundRobin = "roundrobin"
        /// Incremental: a rebalance only revokes the partitions that move.
        case cooperativeSticky = "cooperative-sticky"

        /// Whether the strategy uses the incremental (cooperative) rebalance protocol, where
        /// members keep the partitions that stay put while the group rebalances.
        public var isCooperative: Bool { self == .cooperativeSticky }
    }

    /// Comma-separated `host:port` list of brokers to bootstrap from.
    public var bootstrapServers: String
    /// The consumer group.
    public var groupID: String
    /// Topics to subscribe to.
    public var topics: [String]
    /// Client id reported to brokers. Default: `chaperone`.
    public var clientID: String = "chaperone"
    /// Default: `.readCommitted`.
    public var isolationLevel: IsolationLevel = .readCommitted
    /// Default: `.earliest` (a new group reads everything: nothing is skipped).
    public var autoOffsetReset: OffsetReset = .earliest
    /// Default: `.roundRobin`.
    public var assignmentStrategy: AssignmentStrategy = .roundRobin
    /// Static membership (KIP-345, librdkafka `group.instance.id`): a member that comes back
    /// with the same id within `sessionTimeout` gets its partitions back without a rebalance of
    /// the group. The id must be unique among the group's live members (a second member with
    /// the same id fences the first). A static member does not leave the group when it closes,
    /// so its partitions move to others only after `sessionTimeout`. Default: nil (dynamic
    /// membership).
    public var groupInstanceID: String?
    /// The broker drops a member that sends no heartbeat for this long. Default: 45 s.
    public var sessionTimeout: Duration = .seconds(45)
    /// Heartbeat period (heartbeats are sent by a background thread). Default: 3 s.
    public var heartbeatInterval: Duration = .seconds(3)
    /// The client leaves the group when the application does not call `poll` for this long.
    /// Keep it moderate and keep polling while busy (see `KafkaConsumer`). Default: 5 min.
    public var maxPollInterval: Duration = .seconds(300)
    /// Any other librdkafka properties, applied last. Default: empty.
    public var additionalProperties: [String: String] = [:]

    public init(bootstrapServers: String, groupID: String, topics: [String]) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.topics = topics
    }

    /// Properties the consumer's design depends on, with their required values.
    static let enforcedProperties: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
    ]

    /// The librdkafka properties, in the order they are applied.
    var librdkafkaProperties: [(key: String, value: String)] {
        var properties: [(key: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("group.id", groupID),
            ("client.id", clientID),
            ("isolation.level", isolationLevel.rawValue),
            ("auto.offset.reset", autoOffsetReset.rawValue),
            ("partition.assignment.strategy", assignmentStrategy.rawValue),
        ]
        if let groupInstanceID {
            properties.append(("group.instance.id", groupInstanceID))
        }
        properties += [
            ("session.timeout.ms", String(sessionTimeout.roundedUpMilliseconds)),
            ("heartbeat.interval.ms", String(heartbeatInterval.roundedUpMilliseconds)),
            ("max.poll.interval.ms", String(maxPollInterval.roundedUpMilliseconds)),
            ("enable.partition.eof", "false"),
        ]
        properties += Self.enforcedProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        properties += additionalProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return properties
    }
}

/// Settings of a `KafkaAdmin` client.
public struct KafkaAdminConfiguration: Sendable {
    /// Comma-separated `host:port` list of brokers to bootstrap from.
    public var bootstrapServers: String
    /// Client id reported to brokers. Default: `chaperone-admin`.
    public var clientID: String = "chaperone-admin"
    /// Any other librdkafka properties (security settings), applied last. Default: empty.
    public var additionalProperties: [String: String] = [:]

    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    var librdkafkaProperties: [(key: String, value: String)] {
        [("bootstrap.servers", bootstrapServers), ("client.id", clientID)]
            + additionalProperties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

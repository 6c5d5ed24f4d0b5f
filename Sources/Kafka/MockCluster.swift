import Logging

/// A Kafka protocol request type, as used for fault injection.
public struct KafkaAPIKey: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let produce = KafkaAPIKey(rawValue: 0)
    public static let fetch = KafkaAPIKey(rawValue: 1)
    public static let listOffsets = KafkaAPIKey(rawValue: 2)
    public static let metadata = KafkaAPIKey(rawValue: 3)
    public static let offsetCommit = KafkaAPIKey(rawValue: 8)
    public static let offsetFetch = KafkaAPIKey(rawValue: 9)
    public static let findCoordinator = KafkaAPIKey(rawValue: 10)
    public static let joinGroup = KafkaAPIKey(rawValue: 11)
    public static let heartbeat = KafkaAPIKey(rawValue: 12)
    public static let leaveGroup = KafkaAPIKey(rawValue: 13)
    public static let syncGroup = KafkaAPIKey(rawValue: 14)
    public static let initProducerID = KafkaAPIKey(rawValue: 22)
    public static let addPartitionsToTransaction = KafkaAPIKey(rawValue: 24)
    public static let addOffsetsToTransaction = KafkaAPIKey(rawValue: 25)
    public static let endTransaction = KafkaAPIKey(rawValue: 26)
    public static let transactionOffsetCommit = KafkaAPIKey(rawValue: 28)
}

/// librdkafka's in-process mock Kafka cluster: real Kafka protocol on loopback ports, for tests
/// and the development broker, with fault injection.
///
/// Broker ids are `1...brokers`. The cluster lives as long as this object. It supports
/// producing (idempotent and transactional), consumer groups with offset commits, and
/// metadata; it does not support the CreateTopics admin request (use `createTopic`).
public final class MockCluster: Sendable {
    private let cluster: RDKafkaMockCluster
    /// Comma-separated `host:port` list for `bootstrap.servers`.
    public let bootstrapServers: String
    /// The ids of the cluster's brokers.
    public let brokerIDs: ClosedRange<Int32>

    public init(brokers: Int = 1, logger: Logger = Logger(label: "chaperone.kafka.mock")) throws(KafkaError) {
        guard (1...64).contains(brokers) else {
            throw KafkaError(
                code: .invalidArgument, name: "_INVALID_ARG", reason: "broker count must be 1...64, got \(brokers)",
                context: "mock cluster"
            )
        }
        let client = try RDKafkaClient.make(kind: .producer, properties: [
                ("client.id", "chaperone-mock-cluster"),
                // The handle only hosts the cluster: it never connects, so its warning about
                // having no bootstrap servers is noise.
                ("log_level", "4"),
            ], logger: logger)
        cluster = try RDKafkaMockCluster(brokers: Int32(brokers), client: client)
        bootstrapServers = cluster.bootstrapServers
        brokerIDs = 1...Int32(brokers)
    }

    /// Creates a topic (partition leaders are spread over the brokers).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaError) {
        try cluster.createTopic(name, partitions: Int32(clamping: partitions), replicationFactor: Int32(clamping: replicationFactor))
    }

    /// Disconnects a broker and refuses new connections; leaders do not move.
    public func setBrokerDown(_ brokerID: Int32) throws(KafkaError) {
        try cluster.setBroker(brokerID, up: false)
    }

    /// Accepts connections to a broker again.
    public func setBrokerUp(_ brokerID: Int32) throws(KafkaError) {
        try cluster.setBroker(brokerID, up: true)
    }

    /// Delays every response of a broker (nil broker: all brokers).
    public func setRoundTripTime(_ delay: Duration, broker brokerID: Int32? = nil) throws(KafkaError) {
        try cluster.setRoundTripTime(brokerID: brokerID ?? -1, milliseconds: delay.roundedUpMilliseconds)
    }

    /// Makes the next `errors.count` requests of type `api` (to any broker) fail, in order,
    /// with these codes. `KafkaError.Code(rawValue: -195)` (transport) disconnects the client.
    public func pushRequestErrors(_ errors: [KafkaError.Code], for api: KafkaAPIKey) {
        cluster.pushRequestErrors(apiKey: api.rawValue, codes: errors.map(\.rawValue))
    }

    /// Drops the injected errors not yet consumed for `api`.
    public func clearRequestErrors(for api: KafkaAPIKey) {
        cluster.clearRequestErrors(apiKey: api.rawValue)
    }

    /// Makes Metadata and AddPartitionsToTxn requests report `error` for `topic`
    /// (`.noError` clears it).
    public func setTopicError(_ topic: String, error: KafkaError.Code) {
        cluster.setTopicError(topic, code: error.rawValue)
    }

    /// Moves a partition's leadership (-1: no leader).
    public func setPartitionLeader(topic: String, partition: Int32, broker brokerID: Int32) throws(KafkaError) {
        try cluster.setPartitionLeader(topic: topic, partition: partition, brokerID: brokerID)
    }

    /// Moves a consumer group's coordinator to another broker.
    public func setGroupCoordinator(groupID: String, broker brokerID: Int32) throws(KafkaError) {
        try cluster.setCoordinator(keyType: "group", key: groupID, brokerID: brokerID)
    }

    /// Moves a transactional id's coordinator to another broker.
    public func setTransactionCoordinator(transactionalID: String, broker brokerID: Int32) throws(KafkaError) {
        try cluster.setCoordinator(keyType: "transaction", key: transactionalID, brokerID: brokerID)
    }

    /// Limits the versions the brokers advertise for `api`; nil disables the API entirely
    /// (e.g. to simulate a broker without transactions).
    public func setSupportedVersions(_ versions: ClosedRange<Int16>?, for api: KafkaAPIKey) throws(KafkaError) {
        try cluster.setAPIVersion(apiKey: api.rawValue, minimum: versions?.lowerBound ?? -1, maximum: versions?.upperBound ?? -1)
    }
}

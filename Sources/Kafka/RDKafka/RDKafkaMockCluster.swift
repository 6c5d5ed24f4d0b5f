import CRdKafka

/// Owns a librdkafka mock cluster and the client handle it is attached to.
final class RDKafkaMockCluster: @unchecked Sendable {
    private let client: RDKafkaClient
    private let cluster: OpaquePointer
    let bootstrapServers: String

    init(brokers: Int32, client: RDKafkaClient) throws(KafkaError) {
        guard let cluster = rd_kafka_mock_cluster_new(client.handle, brokers) else {
            throw KafkaError.local(
                .invalidArgument, name: "_INVALID_ARG", reason: "librdkafka could not start the mock cluster",
                context: "mock cluster with \(brokers) broker(s)"
            )
        }
        self.client = client
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
    }

    func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32) throws(KafkaError) {
        try KafkaError.check(
            rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor), context: "mock: create topic \(name)"
        )
    }

    func setBroker(_ brokerID: Int32, up: Bool) throws(KafkaError) {
        let code = up ? rd_kafka_mock_broker_set_up(cluster, brokerID) : rd_kafka_mock_broker_set_down(cluster, brokerID)
        try KafkaError.check(code, context: "mock: set broker \(brokerID) \(up ? "up" : "down")")
    }

    func setRoundTripTime(brokerID: Int32, milliseconds: Int32) throws(KafkaError) {
        try KafkaError.check(
            rd_kafka_mock_broker_set_rtt(cluster, brokerID, milliseconds), context: "mock: set RTT of broker \(brokerID)"
        )
    }

    func pushRequestErrors(apiKey: Int16, codes: [Int32]) {
        let errors = codes.map { rd_kafka_resp_err_t(rawValue: $0) }
        rd_kafka_mock_push_request_errors_array(cluster, apiKey, errors.count, errors)
    }

    func clearRequestErrors(apiKey: Int16) {
        rd_kafka_mock_clear_request_errors(cluster, apiKey)
    }

    func setTopicError(_ topic: String, code: Int32) {
        rd_kafka_mock_topic_set_error(cluster, topic, rd_kafka_resp_err_t(rawValue: code))
    }

    func setPartitionLeader(topic: String, partition: Int32, brokerID: Int32) throws(KafkaError) {
        try KafkaError.check(
            rd_kafka_mock_partition_set_leader(cluster, topic, partition, brokerID),
            context: "mock: set leader of \(topic)[\(partition)] to broker \(brokerID)"
        )
    }

    func setCoordinator(keyType: String, key: String, brokerID: Int32) throws(KafkaError) {
        try KafkaError.check(
            rd_kafka_mock_coordinator_set(cluster, keyType, key, brokerID),
            context: "mock: set \(keyType) coordinator of \(key) to broker \(brokerID)"
        )
    }

    func setAPIVersion(apiKey: Int16, minimum: Int16, maximum: Int16) throws(KafkaError) {
        try KafkaError.check(
            rd_kafka_mock_set_apiversion(cluster, apiKey, minimum, maximum), context: "mock: set versions of API \(apiKey)"
        )
    }
}

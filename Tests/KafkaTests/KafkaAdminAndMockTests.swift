import Testing
@testable import Kafka

private typealias Support = KafkaTestSupport

extension MockClusterTests {
@Suite("Admin and mock cluster fault injection")
struct KafkaAdminAndMockTests {
    @Test("describe reports partition counts; a missing topic is a clear error")
    func describeTopics() async throws {
        let cluster = try Support.cluster(brokers: 3, topics: ["six": 6, "one": 1])
        #expect(cluster.brokerIDs == 1...3)
        #expect(cluster.bootstrapServers.split(separator: ",").count == 3)
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: cluster.bootstrapServers), logger: Support.logger)
        #expect(try await admin.partitionCount(of: "six") == 6)
        #expect(try await admin.partitionCount(of: "one") == 1)
        let error = await #expect(throws: KafkaError.self) { try await admin.partitionCount(of: "missing") }
        #expect(error?.code == .unknownTopicOrPartition)
        #expect(error?.context == "describe topic missing")
    }

    @Test("creating topics through the admin API on the mock cluster fails clearly instead of hanging")
    func createTopicsUnsupportedOnMock() async throws {
        let cluster = try Support.cluster(topics: [:])
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: cluster.bootstrapServers), logger: Support.logger)
        let error = await #expect(throws: KafkaError.self) {
            try await admin.createTopics([KafkaTopicSpecification(name: "new-topic", partitions: 3)], timeout: .seconds(1))
        }
        #expect(error?.context.contains("new-topic") == true)
        #expect(error?.code == .timedOut, "\(String(describing: error))")
    }

    @Test("injected retriable produce errors are retried; a non-retriable one fails the send")
    func injectedProduceErrors() async throws {
        let cluster = try Support.cluster(topics: ["faults": 1])
        let producer = try Support.producer(cluster)
        try await producer.send(topic: "faults", key: "warm-up", value: [1])

        cluster.pushRequestErrors([.notEnoughReplicas, .notEnoughReplicas], for: .produce)
        let report = try await producer.send(topic: "faults", key: "retried", value: [2])
        #expect(report.offset == 1)

        let topicAuthorizationFailed = KafkaError.Code(rawValue: 29)
        cluster.pushRequestErrors([topicAuthorizationFailed], for: .produce)
        let error = await #expect(throws: KafkaError.self) {
            try await producer.send(topic: "faults", key: "secret-key", value: Support.bytes("secret-payload"))
        }
        #expect(error?.code == topicAuthorizationFailed)
        #expect(error?.context == "send to topic faults")
        #expect(error?.description.contains("secret") == false)
        try await producer.close()
    }

    @Test("a send to a broker that is down fails after the delivery timeout; it succeeds once the broker is up")
    func brokerDownAndUp() async throws {
        let cluster = try Support.cluster(topics: ["down": 1])
        var configuration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers)
        configuration.deliveryTimeout = .seconds(2)
        configuration.enableIdempotence = false
        configuration.additionalProperties = ["reconnect.backoff.ms": "50", "reconnect.backoff.max.ms": "200"]
        let producer = try KafkaProducer(configuration: configuration, logger: Support.logger)
        try await producer.send(topic: "down", key: "k", value: [1])

        try cluster.setBrokerDown(1)
        let error = await #expect(throws: KafkaError.self) { try await producer.send(topic: "down", key: "k", value: [2]) }
        #expect(error?.code == .messageTimedOut)
        #expect(error?.isRetriable == true)

        try cluster.setBrokerUp(1)
        var report: KafkaDeliveryReport?
        for _ in 0..<10 where report == nil {
            report = try? await producer.send(topic: "down", key: "k", value: [3])
        }
        #expect(report?.partition == 0)
        try await producer.close()
    }

    @Test("closing a producer that cannot deliver fails the pending sends instead of leaving them waiting")
    func closeFailsPendingSends() async throws {
        let cluster = try Support.cluster(topics: ["stuck": 1])
        let producer = try Support.producer(cluster)
        try await producer.send(topic: "stuck", key: "k", value: [1])
        try cluster.setBrokerDown(1)
        let pending = Task { try await producer.send(topic: "stuck", key: "k", value: [2]) }
        try await Task.sleep(for: .milliseconds(200))
        await #expect(throws: KafkaError.self) { try await producer.close(timeout: .milliseconds(500)) }
        let error = await #expect(throws: KafkaError.self) { try await pending.value }
        #expect(error?.name.hasPrefix("_PURGE") == true)
        await #expect(throws: KafkaError.self) { try await producer.send(topic: "stuck", key: "k", value: [3]) }
    }

    @Test("other fault hooks accept valid input and reject unknown brokers")
    func faultHooks() throws {
        let cluster = try Support.cluster(brokers: 2, topics: ["hooks": 2])
        try cluster.setRoundTripTime(.milliseconds(5), broker: 2)
        try cluster.setRoundTripTime(.zero)
        try cluster.setPartitionLeader(topic: "hooks", partition: 0, broker: 2)
        try cluster.setGroupCoordinator(groupID: "g", broker: 2)
        try cluster.setTransactionCoordinator(transactionalID: "t", broker: 1)
        try cluster.setSupportedVersions(0...2, for: .endTransaction)
        cluster.setTopicError("hooks", error: .noError)
        cluster.clearRequestErrors(for: .fetch)
        #expect(throws: KafkaError.self) { try cluster.setBrokerDown(42) }
        #expect(throws: KafkaError.self) { try MockCluster(brokers: 0) }
    }
}
}

import Testing
@testable import Kafka

private typealias Support = KafkaTestSupport

@Suite("Configuration and errors")
struct KafkaConfigurationTests {
    @Test("an unknown property is a clear error naming it")
    func unknownProperty() throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:9")
        configuration.additionalProperties = ["no.such.property": "1"]
        let error = try #require(throws: KafkaError.self) { try KafkaProducer(configuration: configuration) }
        #expect(error.code == .invalidArgument)
        #expect(error.context == "configuration property 'no.such.property'")
        #expect(error.reason == "unknown configuration property")
        #expect(error.description.contains("no.such.property"))
    }

    @Test("a bad value is a clear error naming the property")
    func badValue() throws {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: "127.0.0.1:9", groupID: "g", topics: ["t"])
        configuration.additionalProperties = ["fetch.wait.max.ms": "not-a-number"]
        let error = try #require(throws: KafkaError.self) { try KafkaConsumer(configuration: configuration) }
        #expect(error.code == .invalidArgument)
        #expect(error.context == "configuration property 'fetch.wait.max.ms'")
        #expect(error.reason.contains("fetch.wait.max.ms"))
    }

    @Test("values of sensitive properties never appear in errors")
    func sensitiveValueHidden() throws {
        let error = KafkaError.configuration(key: "sasl.password", unknown: false, reason: "Invalid value \"hunter2\"")
        #expect(!error.description.contains("hunter2"))
        #expect(error.description.contains("sasl.password"))
        #expect(RDKafkaConfig.isSensitive("ssl.key.password"))
        #expect(!RDKafkaConfig.isSensitive("bootstrap.servers"))
    }

    @Test("an inconsistent combination is rejected when the client is created")
    func inconsistentCombination() throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:9")
        configuration.acks = .leader  // idempotence requires acks=all
        let error = try #require(throws: KafkaError.self) { try KafkaProducer(configuration: configuration) }
        #expect(error.code == .invalidArgument)
        #expect(error.reason.contains("acks"))
    }

    @Test("auto commit cannot be turned back on")
    func autoCommitRefused() throws {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: "127.0.0.1:9", groupID: "g", topics: ["t"])
        configuration.additionalProperties = ["enable.auto.commit": "true"]
        let error = try #require(throws: KafkaError.self) { try KafkaConsumer(configuration: configuration) }
        #expect(error.context == "configuration property 'enable.auto.commit'")
    }

    @Test("typed settings map to librdkafka properties")
    func propertyMapping() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "a:1,b:2")
        configuration.transactionalID = "worker-1"
        configuration.deliveryTimeout = .milliseconds(1500)
        configuration.additionalProperties = ["security.protocol": "SASL_SSL"]
        let properties = Dictionary(uniqueKeysWithValues: configuration.librdkafkaProperties.map { ($0.key, $0.value) })
        #expect(properties["bootstrap.servers"] == "a:1,b:2")
        #expect(properties["enable.idempotence"] == "true")
        #expect(properties["acks"] == "all")
        #expect(properties["transactional.id"] == "worker-1")
        #expect(properties["delivery.timeout.ms"] == "1500")
        #expect(properties["security.protocol"] == "SASL_SSL")

        let consumer = KafkaConsumerConfiguration(bootstrapServers: "a:1", groupID: "g", topics: ["t"])
        let consumerProperties = Dictionary(uniqueKeysWithValues: consumer.librdkafkaProperties.map { ($0.key, $0.value) })
        #expect(consumerProperties["enable.auto.commit"] == "false")
        #expect(consumerProperties["enable.auto.offset.store"] == "false")
        #expect(consumerProperties["isolation.level"] == "read_committed")
        #expect(consumerProperties["group.instance.id"] == nil, "dynamic membership unless asked")
        #expect(properties["message.max.bytes"] == "1000000", "librdkafka's default")
    }

    @Test("static membership and the message size limit map to librdkafka properties")
    func membershipAndSizeMapping() {
        var consumer = KafkaConsumerConfiguration(bootstrapServers: "a:1", groupID: "g", topics: ["t"])
        consumer.assignmentStrategy = .cooperativeSticky
        consumer.groupInstanceID = "worker-7"
        let consumerProperties = Dictionary(uniqueKeysWithValues: consumer.librdkafkaProperties.map { ($0.key, $0.value) })
        #expect(consumerProperties["partition.assignment.strategy"] == "cooperative-sticky")
        #expect(consumerProperties["group.instance.id"] == "worker-7")
        #expect(KafkaConsumerConfiguration.AssignmentStrategy.cooperativeSticky.isCooperative)
        #expect(!KafkaConsumerConfiguration.AssignmentStrategy.range.isCooperative)
        #expect(!KafkaConsumerConfiguration.AssignmentStrategy.roundRobin.isCooperative)

        var producer = KafkaProducerConfiguration(bootstrapServers: "a:1")
        producer.messageMaxBytes = 250_000
        let producerProperties = Dictionary(uniqueKeysWithValues: producer.librdkafkaProperties.map { ($0.key, $0.value) })
        #expect(producerProperties["message.max.bytes"] == "250000")
    }

    @Test("errors about the message itself are permanent for it, timeouts and broker trouble are not")
    func permanentForMessage() {
        func error(_ code: KafkaError.Code, retriable: Bool = false, fatal: Bool = false) -> KafkaError {
            KafkaError(code: code, name: "n", reason: "r", context: "send", isRetriable: retriable, isFatal: fatal)
        }
        for code in [KafkaError.Code.messageSizeTooLarge, .invalidMessage, .recordListTooLarge, .invalidRecord, .invalidArgument] {
            #expect(error(code).isPermanentForMessage, "\(code)")
        }
        #expect(KafkaError.Code.messageSizeTooLarge.rawValue == 10)
        #expect(KafkaError.Code.invalidMessage.rawValue == 2)
        #expect(KafkaError.Code.recordListTooLarge.rawValue == 18)
        #expect(KafkaError.Code.invalidRecord.rawValue == 87)
        for code in [KafkaError.Code.messageTimedOut, .timedOut, .queueFull, .allBrokersDown, .notLeaderForPartition,
                     .requestTimedOut, .notEnoughReplicas, .unknownTopicOrPartition, .producerFenced, .destroyed] {
            #expect(!error(code, retriable: true).isPermanentForMessage, "\(code)")
        }
        #expect(!error(.messageSizeTooLarge, fatal: true).isPermanentForMessage, "a fatal client error is about the client")
    }

    @Test("durations round up to whole milliseconds")
    func durationMilliseconds() {
        #expect(Duration.milliseconds(1500).roundedUpMilliseconds == 1500)
        #expect(Duration.microseconds(1).roundedUpMilliseconds == 1)
        #expect(Duration.seconds(-3).roundedUpMilliseconds == 0)
        #expect(Duration.seconds(10_000_000).roundedUpMilliseconds == Int32.max)
    }

    @Test("recovery class follows the flags, fatal first")
    func recoveryClass() {
        var error = KafkaError(code: .timedOut, name: "_TIMED_OUT", reason: "r", context: "c", isRetriable: true)
        #expect(error.recovery == .retry)
        error.transactionRequiresAbort = true
        #expect(error.recovery == .abortTransaction)
        error.isFatal = true
        #expect(error.recovery == .fatal)
        #expect(KafkaError(code: .invalidArgument, name: "_INVALID_ARG", reason: "r", context: "c").recovery == .none)
    }
}

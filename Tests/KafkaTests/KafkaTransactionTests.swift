import Foundation
import Testing
@testable import Kafka

private typealias Support = KafkaTestSupport

extension MockClusterTests {
/// What librdkafka 2.0.2's mock cluster can show about transactions: the client-side flow
/// and the error classes. Its brokers accept transactional requests but write no transaction
/// markers, report no aborted transactions in Fetch and ignore TxnOffsetCommit, so
/// visibility and transactional offset commits are tested against a real broker
/// (`RealBrokerTransactionTests`).
@Suite("Transactions against the mock cluster")
struct KafkaTransactionTests {
    @Test("commit and abort run through the transaction coordinator; records carry delivery reports")
    func commitAndAbortFlow() async throws {
        let topic = "txn-flow"
        let cluster = try Support.cluster(topics: [topic: 1])
        let producer = try Support.producer(cluster, transactionalID: "txn-flow")
        try await producer.initTransactions()

        try producer.beginTransaction()
        let first = try await producer.send(topic: topic, key: "a", value: Support.bytes("one"))
        let second = try await producer.send(topic: topic, key: "b", value: Support.bytes("two"))
        try await producer.commitTransaction()
        #expect(first.offset == 0)
        #expect(second.offset == 1)

        try producer.beginTransaction()
        try await producer.send(topic: topic, key: "c", value: Support.bytes("three"))
        try await producer.abortTransaction()

        // Outside a transaction, commit is a state error that no retry fixes.
        let stateError = await #expect(throws: KafkaError.self) { try await producer.commitTransaction() }
        #expect(stateError?.code == .state)
        #expect(stateError?.recovery == KafkaError.Recovery.none)
        try await producer.close()

        let reader = try Support.consumer(cluster, group: "txn-flow-reader", topics: [topic], isolation: .readUncommitted)
        let seen = try await Support.messages(reader, count: 3)
        #expect(seen.values == ["one", "two", "three"])
        try await reader.close()
    }

    @Test("a failed AddPartitionsToTxn makes the transaction abortable; after abort the next one commits")
    func abortableError() async throws {
        let topic = "txn-abortable"
        let cluster = try Support.cluster(topics: [topic: 1])
        let producer = try Support.producer(cluster, transactionalID: "txn-abortable")
        try await producer.initTransactions()

        let topicAuthorizationFailed = KafkaError.Code(rawValue: 29)
        cluster.pushRequestErrors([topicAuthorizationFailed], for: .addPartitionsToTransaction)
        try producer.beginTransaction()
        let sendError = await #expect(throws: KafkaError.self) {
            try await producer.send(topic: topic, key: "k", value: Support.bytes("doomed"))
        }
        #expect(sendError != nil)
        let commitError = await #expect(throws: KafkaError.self) { try await producer.commitTransaction() }
        #expect(commitError?.recovery == .abortTransaction)
        #expect(commitError?.context == "commitTransaction")
        try await producer.abortTransaction()

        try producer.beginTransaction()
        let report = try await producer.send(topic: topic, key: "k", value: Support.bytes("fine"))
        try await producer.commitTransaction()
        #expect(report.partition == 0)
        try await producer.close()
    }

    @Test("a producer fenced by the coordinator gets a fatal error and cannot go on")
    func fencedIsFatal() async throws {
        let topic = "txn-fenced"
        let cluster = try Support.cluster(topics: [topic: 1])
        let zombie = try Support.producer(cluster, transactionalID: "txn-fenced")
        try await zombie.initTransactions()

        // What the coordinator answers once a newer instance with this id registered.
        cluster.pushRequestErrors([.producerFenced], for: .endTransaction)
        try zombie.beginTransaction()
        try await zombie.send(topic: topic, key: "k", value: Support.bytes("zombie"))
        let error = await #expect(throws: KafkaError.self) { try await zombie.commitTransaction() }
        #expect(error?.recovery == .fatal)
        #expect(error?.isFatal == true)
        #expect(error?.context == "commitTransaction")

        let afterwards = #expect(throws: KafkaError.self) { try zombie.beginTransaction() }
        #expect(afterwards?.isFatal == true)
    }

    @Test("sendOffsetsToTransaction passes the consumer's group metadata to the coordinator")
    func sendOffsetsFlow() async throws {
        let input = "txn-in"
        let output = "txn-out"
        let cluster = try Support.cluster(topics: [input: 1, output: 1])
        let seed = try Support.producer(cluster)
        try await seed.send(topic: input, key: "r0", value: Support.bytes("request-0"))
        try await seed.close()

        let consumer = try Support.consumer(cluster, group: "txn-offsets-group", topics: [input])
        let read = try await Support.messages(consumer, count: 1)
        let message = try #require(read.messages.first)
        let metadata = try await consumer.groupMetadata()
        #expect(!metadata.serialized.isEmpty)

        let producer = try Support.producer(cluster, transactionalID: "txn-offsets")
        try await producer.initTransactions()
        try producer.beginTransaction()
        try await producer.send(topic: output, key: message.key, value: Support.bytes("result-0"))
        try await producer.sendOffsetsToTransaction([message.nextOffset], groupMetadata: metadata)
        try await producer.commitTransaction()

        // A coordinator error on the offsets makes the transaction abortable.
        cluster.pushRequestErrors([.illegalGeneration], for: .transactionOffsetCommit)
        try producer.beginTransaction()
        try await producer.send(topic: output, key: message.key, value: Support.bytes("result-again"))
        var failure: KafkaError?
        do {
            try await producer.sendOffsetsToTransaction([message.nextOffset], groupMetadata: metadata)
            try await producer.commitTransaction()
        } catch let error as KafkaError {
            failure = error
        }
        #expect(failure?.recovery == .abortTransaction || failure?.recovery == .fatal)
        if failure?.recovery == .abortTransaction { try await producer.abortTransaction() }
        try await producer.close()
        try await consumer.close()
    }
}
}

/// Transaction semantics that need a real broker. Set `CHAPERONE_KAFKA_BOOTSTRAP` to a
/// cluster's bootstrap servers to run them; topics get unique names.
@Suite(
    "Transactions against a real broker",
    .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["CHAPERONE_KAFKA_BOOTSTRAP"] != nil)
)
struct RealBrokerTransactionTests {
    let bootstrap = ProcessInfo.processInfo.environment["CHAPERONE_KAFKA_BOOTSTRAP"] ?? ""
    let suffix = UUID().uuidString.prefix(8).lowercased()

    func producer(_ transactionalID: String? = nil) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
        configuration.transactionalID = transactionalID
        return try KafkaProducer(configuration: configuration, logger: KafkaTestSupport.logger)
    }

    func consumer(group: String, topic: String, isolation: KafkaConsumerConfiguration.IsolationLevel) throws -> KafkaConsumer {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: group, topics: [topic])
        configuration.isolationLevel = isolation
        return try KafkaConsumer(configuration: configuration, logger: KafkaTestSupport.logger)
    }

    func createTopics(_ names: [String]) async throws {
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: bootstrap), logger: KafkaTestSupport.logger)
        try await admin.createTopics(names.map { KafkaTopicSpecification(name: $0, partitions: 1) })
        try await admin.createTopics(names.map { KafkaTopicSpecification(name: $0, partitions: 1) }, ignoreExisting: true)
        for name in names { #expect(try await admin.partitionCount(of: name) == 1) }
    }

    @Test("read_committed sees committed transactions only; read_uncommitted sees everything")
    func committedVisibleAbortedNot() async throws {
        let topic = "chaperone-test-visibility-\(suffix)"
        try await createTopics([topic])
        let producer = try producer("visibility-\(suffix)")
        try await producer.initTransactions()
        for (values, commit) in [(["committed-1", "committed-2"], true), (["aborted-1"], false), (["committed-3"], true)] {
            try producer.beginTransaction()
            for value in values { try await producer.send(topic: topic, key: value, value: Array(value.utf8)) }
            if commit { try await producer.commitTransaction() } else { try await producer.abortTransaction() }
        }
        try await producer.close()

        let committedReader = try consumer(group: "rc-\(suffix)", topic: topic, isolation: .readCommitted)
        var committed = try await KafkaTestSupport.messages(committedReader, count: 3)
        try await KafkaTestSupport.poll(committedReader, into: &committed, for: .seconds(2)) { _ in false }
        #expect(committed.values == ["committed-1", "committed-2", "committed-3"])
        try await committedReader.close()

        let everythingReader = try consumer(group: "ru-\(suffix)", topic: topic, isolation: .readUncommitted)
        let everything = try await KafkaTestSupport.messages(everythingReader, count: 4)
        #expect(everything.values == ["committed-1", "committed-2", "aborted-1", "committed-3"])
        try await everythingReader.close()
    }

    @Test("sendOffsetsToTransaction commits the consumer's offsets with the transaction, not on abort")
    func offsetsCommitWithTransaction() async throws {
        let input = "chaperone-test-in-\(suffix)"
        let output = "chaperone-test-out-\(suffix)"
        try await createTopics([input, output])
        let seed = try producer()
        for index in 0..<4 { try await seed.send(topic: input, key: "r\(index)", value: Array("request-\(index)".utf8)) }
        try await seed.close()

        let group = "offsets-\(suffix)"
        let consumer = try consumer(group: group, topic: input, isolation: .readCommitted)
        let read = try await KafkaTestSupport.messages(consumer, count: 2)
        let partition = KafkaTopicPartition(topic: input, partition: 0)
        let producer = try producer("offsets-\(suffix)")
        try await producer.initTransactions()

        try producer.beginTransaction()
        try await producer.sendOffsetsToTransaction([read.messages[0].nextOffset], groupMetadata: try await consumer.groupMetadata())
        try await producer.abortTransaction()
        #expect(try await consumer.committed([partition]) == [KafkaTopicPartitionOffset(partition, offset: nil)])

        try producer.beginTransaction()
        try await producer.send(topic: output, key: "r1", value: Array("result-1".utf8))
        try await producer.sendOffsetsToTransaction([read.messages[1].nextOffset], groupMetadata: try await consumer.groupMetadata())
        try await producer.commitTransaction()
        try await producer.close()
        #expect(try await consumer.committed([partition]) == [KafkaTopicPartitionOffset(partition, offset: 2)])
        try await consumer.close()

        let next = try self.consumer(group: group, topic: input, isolation: .readCommitted)
        let resumed = try await KafkaTestSupport.messages(next, count: 2)
        #expect(resumed.values == ["request-2", "request-3"])
        try await next.close()
    }
}

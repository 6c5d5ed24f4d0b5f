import Foundation
import Testing
@testable import Kafka

private typealias Support = KafkaTestSupport

extension MockClusterTests {
/// The producer's message size limit, static membership and incremental assignment while
/// paused, against librdkafka's mock cluster.
@Suite("Message size, static membership, incremental assignment")
struct MessageSizeAndMembershipTests {
    @Test("a message over message.max.bytes fails at send with an error permanent for that message")
    func messageTooLarge() async throws {
        let topic = "too-large"
        let cluster = try Support.cluster(topics: [topic: 1])
        var configuration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers)
        configuration.linger = .milliseconds(1)
        configuration.messageMaxBytes = 2_000
        let producer = try KafkaProducer(configuration: configuration, logger: Support.logger)

        let large = [UInt8](repeating: 0x61, count: 5_000)
        let error = try await #require(throws: KafkaError.self) {
            try await producer.send(topic: topic, key: "large", value: large)
        }
        #expect(error.code == .messageSizeTooLarge, "\(error)")
        #expect(error.name == "MSG_SIZE_TOO_LARGE")
        #expect(error.isPermanentForMessage)
        #expect(!error.isRetriable)
        #expect(!error.description.contains(String(repeating: "a", count: 100)), "the payload never appears in the error")

        // The producer stays usable: a message within the limit is delivered.
        let report = try await producer.send(topic: topic, key: "small", value: Support.bytes("fits"))
        #expect(report.topic == topic)
        #expect(report.offset == 0, "the large message never reached the partition")
        try await producer.close()
    }

    @Test("a consumer with a group.instance.id (static membership) joins, consumes and commits")
    func staticMemberConsumes() async throws {
        let topic = "static-member"
        let cluster = try await Support.clusterWithRecords(topic: topic, count: 3)
        let consumer = try Support.consumer(cluster, group: "static-group", topics: [topic]) {
            $0.assignmentStrategy = .cooperativeSticky
            $0.groupInstanceID = "static-worker-1"
        }
        let observed = try await Support.messages(consumer, count: 3)
        #expect(observed.values == ["v0", "v1", "v2"])
        let last = try #require(observed.messages.last)
        try await consumer.commit(last)
        let committed = try await consumer.committed([KafkaTopicPartition(topic: topic, partition: 0)])
        #expect(committed.first?.offset == 3)
        try await consumer.close()
    }

    @Test("partitions assigned incrementally while paused stay paused until resumeAll")
    func incrementalAssignWhilePaused() async throws {
        let topic = "incremental-paused"
        let group = "incremental-paused-group"
        let partitions: Int32 = 4
        let cluster = try Support.cluster(topics: [topic: Int(partitions)])
        func member(_ name: String) throws -> KafkaConsumer {
            try Support.consumer(cluster, group: group, topics: [topic]) {
                $0.clientID = name
                $0.assignmentStrategy = .cooperativeSticky
                $0.sessionTimeout = .seconds(3)  // the mock coordinator waits session - 1 s for members to rejoin
            }
        }
        let first = try member("first")
        var firstSeen = Support.Observed()
        try await Support.poll(first, into: &firstSeen) { $0.assignments.joined().count == Int(partitions) }
        let second = try member("second")
        var secondSeen = Support.Observed()
        let split = try await PauseAcrossRebalanceTests.pollUntilSplit(first, &firstSeen, second, &secondSeen)
        try #require(!split.first.isEmpty && !split.second.isEmpty, "the group must split the topic")

        // Busy: everything paused. The second member leaves; its partitions come over one by one.
        try await first.pauseAll()
        try await second.close()
        var moved = Support.Observed()
        let kept = Set(split.first)
        try await Support.poll(first, into: &moved, for: .seconds(40)) { kept.union($0.assignments.joined()).count == Int(partitions) }
        let incoming = Set(moved.assignments.joined())
        #expect(incoming == Set(split.second), "only the second member's partitions are assigned, incrementally")
        #expect(moved.revocations.isEmpty, "cooperative: nothing the first member holds is revoked")

        let sent = try await PauseAcrossRebalanceTests.produceToEveryPartition(cluster, topic: topic, tag: "incremental")
        let whilePaused = try await Support.keepPolling(first, for: .seconds(3))
        #expect(whilePaused.messages.isEmpty, "no partition, old or newly assigned, is fetched while paused: got \(whilePaused.values)")

        try await first.resumeAll()
        var received = Support.Observed()
        try await Support.poll(first, into: &received, for: .seconds(20)) { $0.messages.count >= sent.values.map(\.count).reduce(0, +) }
        let values = PauseAcrossRebalanceTests.valuesByPartition(received)
        for partition in 0..<partitions {
            #expect(values[partition] == sent[partition], "partition \(partition) is fetched after resumeAll")
        }
        try await first.close()
    }
}
}

import Foundation
import Testing
@testable import Kafka

private typealias Support = KafkaTestSupport

extension MockClusterTests {
@Suite("Producer and consumer against the mock cluster")
struct KafkaProducerConsumerTests {
    @Test("a record sent with key and headers arrives intact, at its reported offset")
    func roundTrip() async throws {
        let cluster = try Support.cluster(topics: ["round-trip": 3])
        let producer = try Support.producer(cluster)
        let headers = [
            KafkaHeader(name: "content-type", string: "application/json"),
            KafkaHeader(name: "empty", value: []),
            KafkaHeader(name: "absent", value: nil),
            KafkaHeader(name: "binary", value: [0, 255, 10, 13]),
        ]
        var reports: [String: KafkaDeliveryReport] = [:]
        for index in 0..<5 {
            let key = "request-\(index)"
            reports[key] = try await producer.send(
                topic: "round-trip", key: key, value: Support.bytes("{\"n\":\(index)}"), headers: headers
            )
        }
        try await producer.close()

        let consumer = try Support.consumer(cluster, group: "round-trip-group", topics: ["round-trip"])
        let observed = try await Support.messages(consumer, count: 5)
        try await consumer.close()

        #expect(observed.messages.count == 5)
        for message in observed.messages {
            let key = try #require(message.keyString)
            let report = try #require(reports[key])
            let index = try #require(Int(key.dropFirst("request-".count)))
            #expect(message.topic == "round-trip")
            #expect(message.partition == report.partition)
            #expect(message.offset == report.offset)
            #expect(message.value == Support.bytes("{\"n\":\(index)}"))
            #expect(message.headers == headers)
            #expect(message.header("content-type")?.stringValue == "application/json")
            let timestamp = try #require(message.timestamp)
            #expect(abs(timestamp.timeIntervalSinceNow) < 600)
        }
        // The same key always lands on the same partition.
        #expect(Set(observed.messages.map(\.keyString)).count == 5)
    }

    @Test(
        "two consumers split six partitions and the survivor takes all when one leaves",
        arguments: [KafkaConsumerConfiguration.AssignmentStrategy.roundRobin, .cooperativeSticky]
    )
    func groupSplitAndRebalance(strategy: KafkaConsumerConfiguration.AssignmentStrategy) async throws {
        let topic = "split"
        let cluster = try Support.cluster(topics: [topic: 6])
        let first = try Support.consumer(cluster, group: "split-group", topics: [topic]) {
            $0.assignmentStrategy = strategy
            $0.sessionTimeout = .seconds(3)  // the mock coordinator waits session - 1 s for members to rejoin
        }
        var firstSeen = Support.Observed()
        try await Support.poll(first, into: &firstSeen) { $0.assignments.count >= 1 }
        #expect(firstSeen.assignments.last?.count == 6)

        let second = try Support.consumer(cluster, group: "split-group", topics: [topic]) {
            $0.assignmentStrategy = strategy
            $0.sessionTimeout = .seconds(3)  // the mock coordinator waits session - 1 s for members to rejoin
        }
        var secondSeen = Support.Observed()
        // Poll both until each holds part of the topic.
        let deadline = ContinuousClock.now + .seconds(40)
        var firstAssignment: [KafkaTopicPartition] = []
        var secondAssignment: [KafkaTopicPartition] = []
        while ContinuousClock.now < deadline {
            try await Support.poll(first, into: &firstSeen, for: .milliseconds(200)) { _ in false }
            try await Support.poll(second, into: &secondSeen, for: .milliseconds(200)) { _ in false }
            firstAssignment = try await first.assignment()
            secondAssignment = try await second.assignment()
            if !firstAssignment.isEmpty, !secondAssignment.isEmpty,
               firstAssignment.count + secondAssignment.count == 6 { break }
        }
        #expect(firstAssignment.count == 3)
        #expect(secondAssignment.count == 3)
        #expect(Set(firstAssignment).isDisjoint(with: secondAssignment))
        #expect(Set(firstAssignment + secondAssignment) == Set((0..<6).map { KafkaTopicPartition(topic: topic, partition: $0) }))
        #expect(!firstSeen.revocations.isEmpty, "the first member must see its partitions revoked for the rebalance")
        #expect(firstSeen.revocations.allSatisfy { !$0.lost })
        #expect(Set(secondSeen.assignments.joined()) == Set(secondAssignment))

        try await second.close()
        var afterLeave = Support.Observed()
        let all = Set((0..<6).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
        let firstBefore = Set(firstAssignment)
        // Eager protocols hand over the whole new assignment, cooperative only what moves.
        try await Support.poll(first, into: &afterLeave, for: .seconds(40)) {
            firstBefore.union($0.assignments.joined()) == all && (strategy == .cooperativeSticky || $0.assignments.last?.count == 6)
        }
        #expect(firstBefore.union(afterLeave.assignments.joined()) == all)
        #expect(try await first.assignment().count == 6)
        try await first.close()
    }

    @Test("a paused consumer that keeps polling stays in the group past max.poll.interval.ms, then resumes")
    func pauseKeepsMembership() async throws {
        let topic = "busy"
        let cluster = try Support.cluster(topics: [topic: 2])
        let producer = try Support.producer(cluster)
        for index in 0..<10 {
            try await producer.send(topic: topic, key: "k\(index)", value: Support.bytes("v\(index)"), partition: Int32(index % 2))
        }
        try await producer.close()

        let consumer = try Support.consumer(cluster, group: "busy-group", topics: [topic])
        let first = try await Support.messages(consumer, count: 1)
        let firstMessage = try #require(first.messages.first)
        try await consumer.pauseAll()

        // Busy for longer than max.poll.interval.ms (6 s), serving the group by polling.
        let busy = try await Support.keepPolling(consumer, for: .seconds(8))
        #expect(busy.messages.isEmpty, "a paused consumer must not deliver messages")
        #expect(busy.revocations.isEmpty, "the consumer must keep its partitions while busy")
        #expect(try await consumer.assignment().count == 2)
        // Still a member: a commit with the current generation succeeds.
        try await consumer.commit(firstMessage)

        try await consumer.resumeAll()
        let rest = try await Support.messages(consumer, count: 9 - (first.messages.count - 1))
        let all = (first.messages + rest.messages).map { String(decoding: $0.value, as: UTF8.self) }
        #expect(Set(all) == Set((0..<10).map { "v\($0)" }))
        #expect(all.count == 10)
        try await consumer.close()
    }

    @Test("a member that stops polling longer than max.poll.interval.ms loses its partitions")
    func stoppingPollingLosesMembership() async throws {
        let topic = "idle"
        let cluster = try Support.cluster(topics: [topic: 2])
        let consumer = try Support.consumer(cluster, group: "idle-group", topics: [topic])
        var observed = Support.Observed()
        try await Support.poll(consumer, into: &observed) { !$0.assignments.isEmpty }
        #expect(observed.assignments.last?.count == 2)
        try await Task.sleep(for: .seconds(8))
        var after = Support.Observed()
        try await Support.poll(consumer, into: &after, for: .seconds(10)) { !$0.revocations.isEmpty }
        #expect(after.revocations.first?.lost == true)
        try await consumer.close()
    }

    @Test("a new member resumes at the committed offset")
    func committedOffsetsResume() async throws {
        let topic = "resume"
        let cluster = try await Support.clusterWithRecords(topic: topic, count: 10)

        let first = try Support.consumer(cluster, group: "resume-group", topics: [topic])
        let read = try await Support.messages(first, count: 4)
        #expect(read.values.prefix(4) == ["v0", "v1", "v2", "v3"])
        let fourth = read.messages[3]
        try await first.commit(fourth)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        #expect(try await first.committed([partition]) == [KafkaTopicPartitionOffset(partition, offset: 4)])
        try await first.close()

        let second = try Support.consumer(cluster, group: "resume-group", topics: [topic])
        let resumed = try await Support.messages(second, count: 6)
        #expect(resumed.messages.first?.offset == 4)
        #expect(resumed.values == ["v4", "v5", "v6", "v7", "v8", "v9"])
        try await second.close()
    }
}
}

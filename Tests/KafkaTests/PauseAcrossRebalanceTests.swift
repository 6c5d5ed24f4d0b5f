import Foundation
import Testing
@testable import Kafka

private typealias Support = KafkaTestSupport

extension MockClusterTests {
/// librdkafka keeps an application pause on its partition object when the partition is
/// revoked, and applies it again when the partition is assigned back; a resume only reaches
/// partitions it names. These tests pause a consumer, rebalance it and resume it at the moments
/// a busy worker does, then check that every partition it ends up with is fetched again.
@Suite("Pause and resume across rebalances")
struct PauseAcrossRebalanceTests {
    static let partitions: Int32 = 4

    static func member(
        _ cluster: MockCluster, group: String, topic: String, name: String,
        strategy: KafkaConsumerConfiguration.AssignmentStrategy = .roundRobin
    ) throws -> KafkaConsumer {
        var logger = Support.logger
        logger[metadataKey: "member"] = "\(name)"
        return try Support.consumer(cluster, group: group, topics: [topic], logger: logger) {
            $0.clientID = name
            $0.assignmentStrategy = strategy
            $0.sessionTimeout = .seconds(3)  // the mock coordinator waits session - 1 s for members to rejoin
        }
    }

    /// Polls both members until their assignments split the topic between them.
    static func pollUntilSplit(
        _ first: KafkaConsumer, _ firstSeen: inout KafkaTestSupport.Observed, _ second: KafkaConsumer, _ secondSeen: inout KafkaTestSupport.Observed
    ) async throws -> (first: [KafkaTopicPartition], second: [KafkaTopicPartition]) {
        let deadline = ContinuousClock.now + .seconds(40)
        var assignments: (first: [KafkaTopicPartition], second: [KafkaTopicPartition]) = ([], [])
        while ContinuousClock.now < deadline {
            try await Support.poll(first, into: &firstSeen, for: .milliseconds(200)) { _ in false }
            try await Support.poll(second, into: &secondSeen, for: .milliseconds(200)) { _ in false }
            assignments = (try await first.assignment(), try await second.assignment())
            if !assignments.first.isEmpty, !assignments.second.isEmpty,
               assignments.first.count + assignments.second.count == Int(partitions) { break }
        }
        return assignments
    }

    /// Sends two records to every partition; returns their values by partition.
    static func produceToEveryPartition(_ cluster: MockCluster, topic: String, tag: String) async throws -> [Int32: Set<String>] {
        let producer = try Support.producer(cluster)
        var sent: [Int32: Set<String>] = [:]
        for partition in 0..<partitions {
            for index in 0..<2 {
                let value = "\(tag)-p\(partition)-\(index)"
                try await producer.send(topic: topic, key: value, value: Support.bytes(value), partition: partition)
                sent[partition, default: []].insert(value)
            }
        }
        try await producer.close()
        return sent
    }

    static func valuesByPartition(_ observed: KafkaTestSupport.Observed) -> [Int32: Set<String>] {
        var values: [Int32: Set<String>] = [:]
        for message in observed.messages { values[message.partition, default: []].insert(String(decoding: message.value, as: UTF8.self)) }
        return values
    }

    @Test("resumeAll between an eager revocation and the next assignment leaves no partition paused")
    func resumeBetweenRevocationAndAssignment() async throws {
        let topic = "pause-gap"
        let group = "pause-gap-group"
        let cluster = try Support.cluster(topics: [topic: Int(Self.partitions)])
        let first = try Self.member(cluster, group: group, topic: topic, name: "first")
        var firstSeen = Support.Observed()
        try await Support.poll(first, into: &firstSeen) { $0.assignments.last?.count == Int(Self.partitions) }
        try #require(firstSeen.assignments.last?.count == Int(Self.partitions))

        // Busy: everything paused. A second member joins; the first sees its partitions revoked.
        try await first.pauseAll()
        let second = try Self.member(cluster, group: group, topic: topic, name: "second")
        var secondSeen = Support.Observed()
        let deadline = ContinuousClock.now + .seconds(40)
        var revoked = Support.Observed()
        while revoked.revocations.isEmpty, ContinuousClock.now < deadline {
            try await Support.poll(first, into: &revoked, for: .milliseconds(200)) { !$0.revocations.isEmpty }
            if revoked.revocations.isEmpty { try await Support.poll(second, into: &secondSeen, for: .milliseconds(200)) { _ in false } }
        }
        try #require(revoked.revocations.count == 1)
        // The request was handed back and the worker is idle again, before the new assignment.
        let assignedBeforeResume = try await first.assignment()
        try #require(revoked.assignments.isEmpty && assignedBeforeResume.isEmpty, "resume must happen between revocation and assignment")
        try await first.resumeAll()

        let split = try await Self.pollUntilSplit(first, &firstSeen, second, &secondSeen)
        try #require(!split.first.isEmpty && !split.second.isEmpty, "the group must split the topic")
        let sent = try await Self.produceToEveryPartition(cluster, topic: topic, tag: "gap")
        var firstAfter = Support.Observed()
        var secondAfter = Support.Observed()
        let receiveDeadline = ContinuousClock.now + .seconds(20)
        while firstAfter.messages.count + secondAfter.messages.count < 2 * Int(Self.partitions), ContinuousClock.now < receiveDeadline {
            try await Support.poll(first, into: &firstAfter, for: .milliseconds(200)) { _ in false }
            try await Support.poll(second, into: &secondAfter, for: .milliseconds(200)) { _ in false }
        }
        let firstValues = Self.valuesByPartition(firstAfter)
        for partition in split.first {
            #expect(firstValues[partition.partition] == sent[partition.partition], "first member must fetch its partition \(partition.partition)")
        }
        let secondValues = Self.valuesByPartition(secondAfter)
        for partition in split.second {
            #expect(secondValues[partition.partition] == sent[partition.partition], "second member must fetch its partition \(partition.partition)")
        }
        try await second.close()
        try await first.close()
    }

    @Test(
        "partitions revoked while paused and assigned back after resumeAll are fetched again",
        arguments: [KafkaConsumerConfiguration.AssignmentStrategy.roundRobin, .cooperativeSticky]
    )
    func partitionsComingBackAfterResume(strategy: KafkaConsumerConfiguration.AssignmentStrategy) async throws {
        let topic = "pause-back-\(strategy.rawValue)"
        let group = "pause-back-group-\(strategy.rawValue)"
        let cluster = try Support.cluster(topics: [topic: Int(Self.partitions)])
        let first = try Self.member(cluster, group: group, topic: topic, name: "first", strategy: strategy)
        var firstSeen = Support.Observed()
        try await Support.poll(first, into: &firstSeen) { $0.assignments.last?.count == Int(Self.partitions) }
        try #require(firstSeen.assignments.last?.count == Int(Self.partitions))

        // Busy while a second member takes half of the partitions; idle again afterwards.
        try await first.pauseAll()
        let second = try Self.member(cluster, group: group, topic: topic, name: "second", strategy: strategy)
        var secondSeen = Support.Observed()
        let split = try await Self.pollUntilSplit(first, &firstSeen, second, &secondSeen)
        try #require(!split.first.isEmpty && !split.second.isEmpty, "the group must split the topic")
        try await first.resumeAll()

        // The second member leaves: its partitions come back to the first.
        try await second.close()
        var back = Support.Observed()
        // Eager protocols hand over the whole new assignment, cooperative only what moves.
        let kept = Set(split.first)
        try await Support.poll(first, into: &back, for: .seconds(40)) {
            kept.union($0.assignments.joined()).count == Int(Self.partitions)
                && (strategy == .cooperativeSticky || $0.assignments.last?.count == Int(Self.partitions))
        }
        let assignedBack = try await first.assignment()
        try #require(assignedBack.count == Int(Self.partitions))

        let sent = try await Self.produceToEveryPartition(cluster, topic: topic, tag: "back")
        var received = Support.Observed()
        try await Support.poll(first, into: &received, for: .seconds(20)) { $0.messages.count >= 2 * Int(Self.partitions) }
        let values = Self.valuesByPartition(received)
        for partition in 0..<Self.partitions {
            #expect(values[partition] == sent[partition], "partition \(partition) must be fetched again (it was with the second member: \(split.second.contains { $0.partition == partition }))")
        }
        try await first.close()
    }
}
}

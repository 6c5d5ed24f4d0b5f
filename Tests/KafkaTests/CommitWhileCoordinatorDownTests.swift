import Foundation
import Synchronization
import Testing
@testable import Kafka

private typealias Support = KafkaTestSupport

extension MockClusterTests {
@Suite("Commits while the group coordinator is unreachable")
struct CommitWhileCoordinatorDownTests {
    /// A topic of three records and a consumer that has read the first two; returns the second.
    static func consumerPastTwoOfThree(topic: String) async throws -> (MockCluster, KafkaConsumer, KafkaConsumerMessage) {
        let cluster = try await Support.clusterWithRecords(topic: topic, count: 3)
        let consumer = try Support.consumer(cluster, group: "\(topic)-group", topics: [topic])
        let read = try await Support.messages(consumer, count: 2)
        return (cluster, consumer, read.messages[1])
    }

    /// A commit waits for its answer in slices, so polls (and with them rebalance events) go on
    /// meanwhile; when no answer comes within its timeout the commit fails with `timedOut`,
    /// and a later commit of the same offset succeeds once the coordinator is back.
    /// (The old synchronous commit held the consumer's queue, so polls waited behind it.)
    @Test("a commit held by a down coordinator lets polls through and gives up at its timeout")
    func commitDoesNotBlockPolling() async throws {
        let topic = "commit-down"
        let (cluster, consumer, second) = try await Self.consumerPastTwoOfThree(topic: topic)

        // The coordinator answers too late for the commit's timeout (a broker taken down instead
        // closes its listener, which librdkafka's mock cannot always reopen).
        try cluster.setRoundTripTime(.seconds(4), broker: 1)
        let commitDone = Atomic(false)
        let pollsBeforeCommitEnded = Atomic(0)
        async let outcome: (any Error)? = {
            defer { commitDone.store(true, ordering: .sequentiallyConsistent) }
            do {
                try await consumer.commit([second.nextOffset], timeout: .milliseconds(1500))
                return nil
            } catch {
                return error
            }
        }()
        // Poll until the commit gives up: polls that waited behind it would all end after it, so
        // none would count. How many fit in its 1.5 s depends on the machine's load; a few must.
        while !commitDone.load(ordering: .sequentiallyConsistent) {
            _ = try? await consumer.poll(timeout: .milliseconds(50))
            if !commitDone.load(ordering: .sequentiallyConsistent) { pollsBeforeCommitEnded.add(1, ordering: .sequentiallyConsistent) }
        }
        let error = await outcome
        #expect(pollsBeforeCommitEnded.load(ordering: .sequentiallyConsistent) >= 2,
                "polls waited behind the commit (\(pollsBeforeCommitEnded.load(ordering: .sequentiallyConsistent)) ran while it was pending)")
        let kafkaError = try #require(error as? KafkaError, "the commit succeeded with its coordinator down: \(String(describing: error))")
        #expect(kafkaError.code == .timedOut, "\(kafkaError)")

        // Back up well within the session timeout (6 s): the member keeps its place, and the
        // commit (the abandoned one too) goes through.
        try cluster.setRoundTripTime(.zero, broker: 1)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        var errors: [String] = []
        let deadline = ContinuousClock.now + .seconds(60)
        var committed = false
        while !committed, ContinuousClock.now < deadline {
            do {
                try await consumer.commit([second.nextOffset], timeout: .seconds(3))
                committed = true
            } catch {
                errors.append("\((error as? KafkaError)?.name ?? "\(error)")")
                // Poll with no commit in flight: a member that lost its place on a loaded machine
                // can only rejoin then (librdkafka holds the rejoin while a commit is pending).
                for _ in 0..<30 { _ = try? await consumer.poll(timeout: .milliseconds(100)) }
            }
        }
        #expect(committed, "no commit succeeded after the coordinator came back: \(errors)")
        #expect(try await consumer.committed([partition]) == [KafkaTopicPartitionOffset(partition, offset: 2)])
        try await consumer.close()
    }

    /// Down longer than the session timeout, the member's partition is revoked as lost.
    /// librdkafka finishes that unassign (and rejoins) only when no commit is in flight, so a
    /// member that kept committing would never rejoin; the worker stops the request's commit
    /// retries on the revocation, as this test does, and the member rejoins and commits.
    @Test("past the session timeout the partition is revoked as lost; without commits in flight the member rejoins")
    func memberRejoinsAfterLostAssignment() async throws {
        let topic = "commit-lost"
        let (cluster, consumer, second) = try await Self.consumerPastTwoOfThree(topic: topic)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)

        // The coordinator stops answering in time: responses come 10 s late, past the session
        // timeout. (Taking the broker down would close its listener, and librdkafka's mock aborts
        // the process when the port was taken meanwhile and the listener cannot come back.)
        try cluster.setRoundTripTime(.seconds(10), broker: 1)
        await #expect(throws: KafkaError.self) { try await consumer.commit([second.nextOffset], timeout: .seconds(1)) }
        var outage = Support.Observed()
        try await Support.poll(consumer, into: &outage, for: .seconds(30)) { !$0.revocations.isEmpty }
        #expect(outage.revocations.first?.partitions == [partition])
        #expect(outage.revocations.first?.lost == true, "\(outage.events)")

        try cluster.setRoundTripTime(.zero, broker: 1)
        var rejoined = Support.Observed()
        try await Support.poll(consumer, into: &rejoined, for: .seconds(60)) { $0.assignments.contains { $0.contains(partition) } }
        #expect(rejoined.assignments.contains { $0.contains(partition) }, "no new assignment: \(rejoined.events)")
        try await consumer.commit([second.nextOffset])
        #expect(try await consumer.committed([partition]) == [KafkaTopicPartitionOffset(partition, offset: 2)])
        try await consumer.close()
    }
}
}

import Testing
@testable import Kafka

@Suite("Consumer pause state")
struct ConsumerPauseStateTests {
    let p0 = KafkaTopicPartition(topic: "t", partition: 0)
    let p1 = KafkaTopicPartition(topic: "t", partition: 1)
    let p2 = KafkaTopicPartition(topic: "t", partition: 2)

    @Test("pauseAll pauses partitions assigned later until resumeAll")
    func pauseAllCoversNewAssignments() {
        var state = ConsumerPauseState()
        #expect(state.partitionsToPause(afterAssigning: [p0, p1]).isEmpty)
        state.pauseAll()
        #expect(state.partitionsToPause(afterAssigning: [p1, p2]) == [p1, p2])
        state.resumeAll()
        #expect(state.partitionsToPause(afterAssigning: [p1, p2]).isEmpty)
        #expect(!state.isPaused(p1))
    }

    @Test("after an assignment every partition not meant to be paused is resumed")
    func resumeAfterAssigning() {
        var state = ConsumerPauseState()
        #expect(state.partitionsToResume(afterAssigning: [p0, p1]) == [p0, p1])
        state.pauseAll()
        #expect(state.partitionsToResume(afterAssigning: [p0, p1]).isEmpty)
        state.resumeAll()
        state.pause([p1])
        #expect(state.partitionsToResume(afterAssigning: [p0, p1, p2]) == [p0, p2])
        #expect(state.partitionsToPause(afterAssigning: [p0, p1, p2]) == [p1])
    }

    @Test("single pauses are re-applied to the same partitions only")
    func singlePauses() {
        var state = ConsumerPauseState()
        state.pause([p0, p2])
        #expect(state.partitionsToPause(afterAssigning: [p0, p1, p2]) == [p0, p2])
        state.resume([p0])
        #expect(state.partitionsToPause(afterAssigning: [p0, p1, p2]) == [p2])
        #expect(state.isPaused(p2) && !state.isPaused(p0))
    }
}

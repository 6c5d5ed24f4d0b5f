/// Which partitions the application wants paused, kept across rebalances.
///
/// librdkafka (checked with 2.0.2) keeps an application pause on its partition object when the
/// partition is revoked, and the pause is in effect again when the partition is assigned back,
/// possibly much later. A resume only reaches the partitions it names, and `resumeAll()` names
/// the current assignment: a partition that was paused and revoked before the resume (for
/// instance between an eager revocation and the next assignment, which is when a busy worker
/// hands its request back and goes idle) would come back paused and never be fetched again.
/// A partition first assigned while `pauseAll()` is in effect must be paused at once instead.
/// So after every assignment the consumer sets each assigned partition's pause to what this
/// state says, both ways. Pure value type: no I/O, tested directly.
struct ConsumerPauseState: Sendable, Equatable {
    /// `pauseAll()` is in effect: every partition, including ones assigned later, is paused.
    private(set) var allPaused = false
    /// Partitions paused one by one.
    private(set) var paused: Set<KafkaTopicPartition> = []

    /// Records a pause of `partitions`.
    mutating func pause(_ partitions: some Sequence<KafkaTopicPartition>) {
        paused.formUnion(partitions)
    }

    /// Records a resume of `partitions` and returns them.
    mutating func resume(_ partitions: some Sequence<KafkaTopicPartition>) {
        paused.subtract(partitions)
    }

    /// Records `pauseAll()`: pauses everything assigned now or later.
    mutating func pauseAll() {
        allPaused = true
    }

    /// Records `resumeAll()`: forgets every pause.
    mutating func resumeAll() {
        allPaused = false
        paused.removeAll()
    }

    /// Partitions of a fresh assignment that must be paused right after assigning them.
    func partitionsToPause(afterAssigning assigned: [KafkaTopicPartition]) -> [KafkaTopicPartition] {
        allPaused ? assigned : assigned.filter { paused.contains($0) }
    }

    /// Partitions of a fresh assignment that must be resumed right after assigning them: all
    /// the others, since librdkafka may still hold a pause from an earlier assignment.
    func partitionsToResume(afterAssigning assigned: [KafkaTopicPartition]) -> [KafkaTopicPartition] {
        allPaused ? [] : assigned.filter { !paused.contains($0) }
    }

    /// Whether `partition` should currently be paused.
    func isPaused(_ partition: KafkaTopicPartition) -> Bool {
        allPaused || paused.contains(partition)
    }
}

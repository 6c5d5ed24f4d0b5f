/// Which partitions the application wants paused, kept across rebalances.
///
/// librdkafka forgets a pause when a partition is revoked and assigned again, so a consumer
/// that is busy during a rebalance would start fetching for its new partitions. This state
/// remembers the application's intent and says what to pause after each assignment. Pure
/// value type: no I/O, tested directly.
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

    /// Whether `partition` should currently be paused.
    func isPaused(_ partition: KafkaTopicPartition) -> Bool {
        allPaused || paused.contains(partition)
    }
}

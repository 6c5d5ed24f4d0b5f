import Contracts

/// The consumer side of the worker as a pure state machine: when to pause and resume the
/// assigned partitions, which message to work on, and when to hand work back.
///
/// One request is worked at a time, and the worker keeps polling while it works (so it stays
/// in the group however long generation takes). It pauses all its partitions once the current
/// request has run past a delay (a long generation) or once `maxBacklog` messages wait, and
/// resumes when it is idle again. Short requests therefore never pay a pause/resume cycle (a
/// resume restarts fetching, which costs hundreds of milliseconds with librdkafka). A message
/// that arrives while busy is kept in order and worked next, never skipped. A revocation of the
/// partition being worked hands the request back (see ``RequestFlow``); queued messages of
/// revoked partitions are dropped (the next owner reads them again from the committed offset).
public struct ConsumerFlow: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case pauseAll
        case resumeAll
        case start(IncomingMessage)
        /// Stop the current request at its next step boundary, uncommitted.
        case handBackCurrent
        /// Shutdown complete: close the consumer.
        case stop
    }

    public enum Event: Sendable, Equatable {
        case received(IncomingMessage)
        /// The current request has run longer than the pause delay.
        case busyPastPauseDelay
        case finished
        case revoked([PartitionID])
        case shutdownRequested
    }

    /// A topic partition, independent of the Kafka client.
    public struct PartitionID: Sendable, Hashable {
        public var topic: String
        public var partition: Int32

        public init(topic: String, partition: Int32) {
            self.topic = topic
            self.partition = partition
        }
    }

    public private(set) var current: IncomingMessage?
    public private(set) var backlog: [IncomingMessage] = []
    public private(set) var paused = false
    public private(set) var shuttingDown = false
    /// Messages waiting while busy before the partitions are paused.
    public let maxBacklog: Int

    /// - Parameter maxBacklog: messages kept while busy before pausing. Default: 32.
    public init(maxBacklog: Int = 32) {
        self.maxBacklog = max(1, maxBacklog)
    }

    private mutating func pause() -> [Action] {
        paused = true
        return [.pauseAll]
    }

    /// Whether the worker is idle and may stop now.
    public var isIdle: Bool { current == nil }

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .received(let message):
            if shuttingDown {
                // Not worked: the next owner reads it again from the committed offset.
                return paused ? [] : pause()
            }
            if current != nil {
                backlog.append(message)
                return !paused && backlog.count >= maxBacklog ? pause() : []
            }
            current = message
            return [.start(message)]
        case .busyPastPauseDelay:
            return current != nil && !paused ? pause() : []
        case .finished:
            current = nil
            if shuttingDown {
                backlog.removeAll()
                return [.stop]
            }
            if !backlog.isEmpty {
                let next = backlog.removeFirst()
                current = next
                return [.start(next)]
            }
            guard paused else { return [] }
            paused = false
            return [.resumeAll]
        case .revoked(let partitions):
            let revoked = Set(partitions)
            backlog.removeAll { revoked.contains(PartitionID(topic: $0.source.topic, partition: $0.source.partition)) }
            if let current, revoked.contains(PartitionID(topic: current.source.topic, partition: current.source.partition)) {
                return [.handBackCurrent]
            }
            return []
        case .shutdownRequested:
            shuttingDown = true
            backlog.removeAll()
            return current == nil ? [.stop] : []
        }
    }
}

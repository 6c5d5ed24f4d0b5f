import Logging

/// Pausing and resuming the requests partitions, tried once per loop turn and retried on later
/// turns, never in a blocking loop: a rebalance in progress can make them fail, and only
/// polling lets the rebalance finish. The latest wish wins.
struct PauseRequests {
    /// True: pause everything; false: resume everything; nil: nothing pending.
    private(set) var pending: Bool?

    /// Asks for a pause (true) or a resume (false), replacing any wish not carried out yet.
    mutating func want(paused: Bool) { pending = paused }

    /// Tries the pending wish once; on failure marks the consumer unavailable and keeps it for
    /// the next turn.
    mutating func apply(to consumer: any RequestConsuming, health: WorkerHealth, logger: Logger) async {
        guard let paused = pending else { return }
        do {
            if paused { try await consumer.pauseAll() } else { try await consumer.resumeAll() }
            pending = nil
            health.markAvailable("broker-consumer")
        } catch {
            health.markUnavailable("broker-consumer", reason: RequestProcessor.safeReason(error))
            logger.warning("\(paused ? "pause" : "resume") failed; retrying after the next poll", metadata: ["error": "\(error)"])
        }
    }
}

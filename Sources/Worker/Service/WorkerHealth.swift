import Contracts
import Synchronization

/// Liveness and readiness of the worker, shared between the request loop, the request in
/// hand and the status endpoints.
///
/// Ready: running and every dependency it last used answered. A dependency that fails
/// (PostgreSQL, the broker) is marked unavailable with a short reason until a later call
/// succeeds.
///
/// Live: the main loop made progress (a poll returned, an idle tick) within the stall timeout,
/// and the request in hand, if any, made progress too (a sampling step, a stage, a retry of an
/// unavailable dependency). A worker stuck in a kernel or a blocking call stops making
/// progress and `/health` says so, so an orchestrator restarts it.
public final class WorkerHealth: Sendable {
    /// The request being worked: where it came from, when it started, its last step.
    public struct InFlight: Sendable, Equatable {
        public var source: SourcePosition
        public var startedAt: ContinuousClock.Instant
        public var step: Int
        public var totalSteps: Int
    }

    private struct State {
        var running = false
        var unavailable: [String: String] = [:]
        var loopProgress = ContinuousClock.now
        var requestProgress = ContinuousClock.now
        var inFlight: InFlight?
    }

    private let state = Mutex(State())

    public init() {}

    public func setRunning(_ running: Bool) {
        state.withLock {
            $0.running = running
            $0.loopProgress = .now
        }
    }

    /// Records that `dependency` failed, with a reason safe to show (no credentials, no prompts).
    public func markUnavailable(_ dependency: String, reason: String) {
        state.withLock { $0.unavailable[dependency] = reason }
    }

    public func markAvailable(_ dependency: String) {
        _ = state.withLock { $0.unavailable.removeValue(forKey: dependency) }
    }

    /// Whether the worker takes work: running and no dependency down.
    public var isReady: Bool {
        state.withLock { $0.running && $0.unavailable.isEmpty }
    }

    /// Human-readable reasons for not being ready, sorted.
    public var problems: [String] {
        state.withLock { s in
            var list = s.unavailable.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            if !s.running { list.insert("worker not running", at: 0) }
            return list
        }
    }

    // MARK: - Liveness

    /// The main loop went round (a poll returned, or an idle tick).
    public func noteLoopProgress() {
        state.withLock { $0.loopProgress = .now }
    }

    /// The request in hand moved on (a stage ended, or a dependency was retried).
    public func noteProgress() {
        state.withLock { $0.requestProgress = .now }
    }

    /// The request in hand finished sampling step `step` of `totalSteps`.
    public func noteStep(_ step: Int, of totalSteps: Int) {
        state.withLock {
            $0.requestProgress = .now
            $0.inFlight?.step = step
            $0.inFlight?.totalSteps = totalSteps
        }
    }

    /// A request read from `source` is now in hand.
    public func requestStarted(at source: SourcePosition) {
        state.withLock {
            $0.requestProgress = .now
            $0.inFlight = InFlight(source: source, startedAt: .now, step: 0, totalSteps: 0)
        }
    }

    /// The request in hand ended (delivered or handed back).
    public func requestEnded() {
        state.withLock {
            $0.inFlight = nil
            $0.loopProgress = .now
        }
    }

    /// The request in hand, nil when idle.
    public var inFlight: InFlight? {
        state.withLock { $0.inFlight }
    }

    /// Why the worker is stalled, nil when it is live: the loop made no progress for
    /// `stallTimeout`, or the request in hand made none. A worker not running yet (starting) or
    /// any more (stopping) is live: its start-up and shutdown have their own deadlines.
    public func stall(timeout stallTimeout: Duration, now: ContinuousClock.Instant = .now) -> String? {
        state.withLock { s in
            guard s.running else { return nil }
            if now - s.loopProgress >= stallTimeout {
                return "the request loop made no progress for \(now - s.loopProgress) (stall timeout \(stallTimeout))"
            }
            if let inFlight = s.inFlight, now - s.requestProgress >= stallTimeout {
                let at = "\(inFlight.source.topic):\(inFlight.source.partition):\(inFlight.source.offset)"
                return "the request from \(at) made no progress for \(now - s.requestProgress) "
                    + "(step \(inFlight.step) of \(inFlight.totalSteps); stall timeout \(stallTimeout))"
            }
            return nil
        }
    }
}

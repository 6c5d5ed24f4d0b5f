import Synchronization

/// Liveness and readiness of the worker, shared between the request loop and `/ready`.
///
/// The worker is ready when it is running and every dependency it last used answered. A
/// dependency that fails (PostgreSQL, the broker) is marked unavailable with a short reason
/// until a later call succeeds.
public final class WorkerHealth: Sendable {
    private struct State {
        var running = false
        var unavailable: [String: String] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func setRunning(_ running: Bool) {
        state.withLock { $0.running = running }
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
}

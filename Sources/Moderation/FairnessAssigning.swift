import Contracts
import Synchronization

/// Where tenants' fairness streams (``FairnessStream``) live: the audit database for workers,
/// so every worker of a group shares them and they survive restarts; memory for `eval`.
public protocol FairnessAssigning: Sendable {
    /// The value `requestID` gets for `target` in `tenant`'s stream. The same request id always
    /// gets the same assignment, so a redelivered request is steered as before.
    func assignFairness(requestID: String, tenant: String, target: FairnessTarget) async throws -> FairnessAssignment
}

/// Fairness streams in memory: one process's, lost at exit (evaluation, tests).
public final class MemoryFairnessStreams: FairnessAssigning {
    private struct State {
        var streams: [String: FairnessStream] = [:]
        var assigned: [String: FairnessAssignment] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func assignFairness(requestID: String, tenant: String, target: FairnessTarget) async throws -> FairnessAssignment {
        state.withLock { state in
            if let known = state.assigned[requestID] { return known }
            let key = tenant + "\u{0}" + FairnessStream.key(for: target)
            var stream = state.streams[key] ?? FairnessStream()
            let (value, index) = stream.assign(proportions: target.proportions)
            state.streams[key] = stream
            let assignment = FairnessAssignment(family: target.family, value: value, streamIndex: index)
            state.assigned[requestID] = assignment
            return assignment
        }
    }
}

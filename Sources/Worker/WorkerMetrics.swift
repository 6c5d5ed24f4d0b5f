import Metrics

/// The worker's metrics, reported through swift-metrics (exported for Prometheus).
///
/// - `chaperone_requests_total{decision,tenant}`: requests delivered, by decision (incl. `rejected`)
/// - `chaperone_stage_duration_seconds{stage}`: decode, generate, score, audit_insert, publish, commit
/// - `chaperone_dlq_total`, `chaperone_audit_write_errors_total`,
///   `chaperone_redeliveries_republished_total`, `chaperone_handed_back_total`
/// - `chaperone_idle_probe_failures_total{dependency}`: failed readiness checks while idle
public struct WorkerMetrics: Sendable {
    public enum Stage: String, Sendable, CaseIterable {
        case decode, generate, score
        case auditInsert = "audit_insert"
        case publish, commit
    }

    private let dlq = Counter(label: "chaperone_dlq_total")
    private let auditWriteErrors = Counter(label: "chaperone_audit_write_errors_total")
    private let republished = Counter(label: "chaperone_redeliveries_republished_total")
    private let handedBack = Counter(label: "chaperone_handed_back_total")

    public init() {}

    public func requestDelivered(decision: String, tenant: String) {
        Counter(label: "chaperone_requests_total", dimensions: [("decision", decision), ("tenant", tenant)]).increment()
    }

    public func stage(_ stage: Stage, _ duration: Duration) {
        Timer(label: "chaperone_stage_duration_seconds", dimensions: [("stage", stage.rawValue)]).record(duration: duration)
    }

    public func deadLettered() { dlq.increment() }
    public func auditWriteFailed() { auditWriteErrors.increment() }
    public func redeliveryRepublished() { republished.increment() }
    public func requestHandedBack() { handedBack.increment() }

    public func idleProbeFailed(dependency: String) {
        Counter(label: "chaperone_idle_probe_failures_total", dimensions: [("dependency", dependency)]).increment()
    }
}

extension Timer {
    /// Records a Swift `Duration`.
    func record(duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

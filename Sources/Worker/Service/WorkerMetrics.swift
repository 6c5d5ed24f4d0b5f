import Metrics

/// The worker's metrics, reported through swift-metrics (exported for Prometheus).
///
/// - `chaperone_requests_total{decision,tenant}`: requests delivered, by decision (incl. `rejected`)
/// - `chaperone_stage_duration_seconds{stage}`: decode, generate, score, audit_insert, publish, commit
/// - `chaperone_dlq_total`, `chaperone_audit_write_errors_total`,
///   `chaperone_redeliveries_republished_total`, `chaperone_handed_back_total`
/// - `chaperone_idle_probe_failures_total{dependency}`: failed readiness checks while idle
/// - `chaperone_poison_total`, `chaperone_duplicate_request_id_total`, `chaperone_unstorable_total`,
///   `chaperone_unpublishable_total`: messages ended by a permanent failure, by kind
/// - `chaperone_generation_step`: the sampling step of the request in hand (0 when idle);
///   `chaperone_in_flight_requests` and `chaperone_in_flight_started_seconds` (Unix time the
///   request in hand started; 0 when idle), so a long generation is visible
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
    private let poison = Counter(label: "chaperone_poison_total")
    private let duplicates = Counter(label: "chaperone_duplicate_request_id_total")
    private let unstorableRows = Counter(label: "chaperone_unstorable_total")
    private let unpublishableResults = Counter(label: "chaperone_unpublishable_total")
    private let withheldImagesRefused = Counter(label: "chaperone_withheld_images_refused_total")
    private let step = Gauge(label: "chaperone_generation_step")
    private let inFlight = Gauge(label: "chaperone_in_flight_requests")
    private let inFlightStarted = Gauge(label: "chaperone_in_flight_started_seconds")

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
    public func poisonQuarantined() { poison.increment() }
    public func duplicateRequestID() { duplicates.increment() }
    public func unstorable() { unstorableRows.increment() }
    public func unpublishable() { unpublishableResults.increment() }
    /// The audit database refused to keep a withheld image (the decision went on without it).
    public func withheldImageRefused() { withheldImagesRefused.increment() }
    public func generationStep(_ value: Int) { step.record(value) }

    /// A request is in hand since `unixTime` (seconds), or none when nil.
    public func inFlight(since unixTime: Double?) {
        inFlight.record(unixTime == nil ? 0 : 1)
        inFlightStarted.record(unixTime ?? 0)
        if unixTime == nil { step.record(0) }
    }

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

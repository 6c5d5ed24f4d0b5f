import Contracts
import Moderation
import Metrics

/// Metrics of escalation, scorer cascades and early abort, reported through swift-metrics
/// like ``WorkerMetrics``:
///
/// - `chaperone_escalation_requests_total{outcome}`: requests of escalating tenants by outcome,
///   `first_try` (the first try passed), `rescued` (a later try passed) or `blocked`
/// - `chaperone_escalation_tries_total`: tries of those requests (tries per request = this /
///   the sum of the above)
/// - `chaperone_cascade_decisions_total{stage}`: cascade categories decided at the `first`
///   (cleared by the fast scorer) or the `second` stage (the second-stage rate is `second` over both)
/// - `chaperone_early_aborts_total`: tries stopped early
/// - `chaperone_early_abort_steps_saved_total`: denoising steps not run because of them
public struct ModerationMetrics: Sendable {
    public enum EscalationOutcome: String, Sendable, CaseIterable {
        case firstTry = "first_try"
        case rescued
        case blocked
    }

    private let tries = Counter(label: "chaperone_escalation_tries_total")
    private let aborts = Counter(label: "chaperone_early_aborts_total")
    private let stepsSaved = Counter(label: "chaperone_early_abort_steps_saved_total")

    public init() {}

    /// Records the tries of one request.
    public func record(tries records: [ModerationTry], escalating: Bool) {
        for record in records {
            if let abort = record.earlyAbort {
                aborts.increment()
                stepsSaved.increment(by: abort.stepsSaved)
            }
            // The scorer marks each cascade category with the stage that decided it.
            for score in record.scores where score.scorer == Self.cascadeScorer {
                Counter(label: "chaperone_cascade_decisions_total", dimensions: [("stage", score.score >= 2 ? "second" : "first")]).increment()
            }
        }
        guard escalating, let last = records.last else { return }
        tries.increment(by: records.count)
        let outcome: EscalationOutcome = last.decision == .block ? .blocked : (records.count == 1 ? .firstTry : .rescued)
        Counter(label: "chaperone_escalation_requests_total", dimensions: [("outcome", outcome.rawValue)]).increment()
    }

    /// The scorer name of cascade markers (``CascadeRule/markerScorer``).
    public static let cascadeScorer = CascadeRule.markerScorer
}

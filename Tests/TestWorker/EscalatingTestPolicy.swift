import Contracts
import Moderation
import Worker

/// For `CHAPERONE_TEST_ESCALATION=1`: tenant `globex` also blocks images whose first red value
/// is at least 0.8 (scorer `test_image`, label `mean_red`) and escalates such blocks (SafeGen,
/// then SLD strong); the deterministic generator draws an escalated try from a different digest,
/// so some tries are rescued and some stay blocked. Other tenants decide as before.
struct EscalatingTestPolicy: DecisionPolicy {
    let base: ThresholdPolicy
    static let redBlockAt = 0.8

    func decide(tenant: String, scores: [HarmScore]) -> (decision: Decision, reasons: [DecisionReason]) {
        var (decision, reasons) = base.decide(tenant: tenant, scores: scores)
        guard tenant == "globex" else { return (decision, reasons) }
        for score in scores where score.scorer == "test_image" && score.label == "mean_red" && score.score >= Self.redBlockAt {
            decision = .block
            reasons.append(DecisionReason(scorer: score.scorer, label: score.label, score: score.score, threshold: Self.redBlockAt, action: .block))
        }
        return (decision, reasons)
    }

    func escalation(forTenant tenant: String) -> EscalationLadder? {
        guard tenant == "globex" else { return nil }
        return EscalationLadder(
            steps: [EscalationStep(name: "safegen", safegen: true), EscalationStep(name: "sld-strong", safegen: true, minimumSafetyPreset: .strong)],
            maxTries: 3, timeBudget: .seconds(60))
    }
}

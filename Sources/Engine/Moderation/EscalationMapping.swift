import Contracts
import HarmScoring
import Worker

extension EscalationLadder {
    /// The worker's ladder for a tenant's `escalation` section (validated when the policy loaded).
    init(policy: EscalationPolicy) {
        self.init(
            steps: policy.steps.map { spec in
                EscalationStep(
                    name: spec.name, safegen: spec.safegen == true,
                    minimumSafetyPreset: spec.sld.flatMap(SafetyPreset.init(rawValue:)), safetyConcept: spec.sldConcept,
                    segaAway: spec.segaAway.map {
                        EscalationStep.SegaAway(concept: $0.concept, guidanceScale: $0.guidanceScale, warmupSteps: $0.warmupSteps, threshold: $0.threshold)
                    })
            },
            maxTries: policy.maxTries,
            timeBudget: .milliseconds(Int64((policy.timeBudgetSeconds * 1000).rounded())))
    }
}

extension ModerationPolicy {
    /// Whether any tenant stops generations early.
    var hasEarlyAbort: Bool {
        defaultPolicy.earlyAbort != nil || tenants.values.contains { $0.earlyAbort != nil }
    }

    /// Tenants whose escalation turns SafeGen on, for the start-up check that an overlay is loaded.
    var tenantsEscalatingToSafeGen: [String] {
        let all = [("default", defaultPolicy)] + tenants.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return all.filter { $0.1.escalation?.steps.contains { $0.safegen == true } == true }.map(\.0)
    }
}

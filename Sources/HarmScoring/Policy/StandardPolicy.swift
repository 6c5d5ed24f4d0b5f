extension ModerationPolicy {
    /// The embedded default policy, used when no policy file is configured.
    ///
    /// - NudeNet exposed nudity classes: censor (pixelate the regions) from 0.45, block from 0.85.
    /// - SD safety checker `nsfw` (1 when the reference checker flags the image): block.
    /// - Prompt harm, any I2P category: block from 0.95 (only unambiguous prompts).
    /// Rules for scorers a worker does not load are dropped by ``restricted(to:)`` at start.
    public static let standard = ModerationPolicy(defaultPolicy: TenantPolicy(rules: [
        PolicyRule(scorer: "nudenet", labels: HarmAmplification.exposedNudityLabels, censorAt: 0.45, blockAt: 0.85),
        PolicyRule(scorer: "safety_checker", labels: ["nsfw"], blockAt: 1),
        PolicyRule(scorer: PromptHarmScorer.scorerName, labels: HarmCategory.allCases.map(\.rawValue), blockAt: 0.95),
    ]))

    /// The scorers any rule refers to.
    public var referencedScorers: Set<String> {
        Set(([defaultPolicy] + Array(tenants.values)).flatMap { $0.rules.map(\.scorer) + $0.strategyScorers })
    }

    /// A copy without the rules of scorers that are not in `scorers` — for the embedded default
    /// only: a policy file that names a scorer the worker lacks is a start-up error instead.
    public func restricted(to scorers: Set<String>) -> ModerationPolicy {
        func keep(_ policy: TenantPolicy) -> TenantPolicy {
            var kept = policy
            kept.rules = policy.rules.filter { scorers.contains($0.scorer) }
            return kept
        }
        return ModerationPolicy(defaultPolicy: keep(defaultPolicy), tenants: tenants.mapValues(keep))
    }
}

import Moderation
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
}

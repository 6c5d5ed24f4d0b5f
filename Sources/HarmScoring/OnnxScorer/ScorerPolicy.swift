import Contracts
import Moderation
extension ModerationPolicy {
    /// Where the default rule of an ONNX harm scorer censors: its cell threshold (grid) or 0.5.
    public static func censorThreshold(for descriptor: ScorerDescriptor) -> Double {
        descriptor.threshold ?? 0.5
    }

    /// Where the default rule of an ONNX harm scorer blocks (like NudeNet's 0.85 in ``standard``).
    public static let onnxHarmBlockThreshold = 0.9

    /// A copy whose default policy also has a rule for each harm scorer (its harm label): censor
    /// from ``censorThreshold(for:)``, block from ``onnxHarmBlockThreshold``. For the embedded
    /// policy, so a model folder's own harm scorers take part in decisions; scorers that already
    /// have a rule, and attribute classifiers, are left alone.
    public func including(harmScorers: [ScorerDescriptor]) -> ModerationPolicy {
        var copy = self
        let covered = Set(defaultPolicy.rules.map(\.scorer))
        for descriptor in harmScorers where descriptor.isHarmScorer && !covered.contains(descriptor.name) {
            guard let label = descriptor.harmLabel else { continue }
            copy.defaultPolicy.rules.append(PolicyRule(
                scorer: descriptor.name, labels: [label],
                censorAt: Self.censorThreshold(for: descriptor),
                blockAt: max(Self.onnxHarmBlockThreshold, Self.censorThreshold(for: descriptor))))
        }
        return copy
    }
}

extension HarmAmplification {
    /// A copy in which each harm scorer's harm label also counts as image harm for the rule of
    /// its category (a new rule with the category's prompt harm when there is none).
    public func including(harmScorers: [ScorerDescriptor]) -> HarmAmplification {
        var copy = self
        for descriptor in harmScorers {
            guard let category = descriptor.harmCategory, let label = descriptor.harmLabel else { continue }
            let source = ScoreSource(scorer: descriptor.name, labels: [label])
            if let index = copy.rules.firstIndex(where: { $0.harmType == category }) {
                if !copy.rules[index].imageSources.contains(source) { copy.rules[index].imageSources.append(source) }
            } else {
                copy.rules.append(AmplificationRule(harmType: category, promptCategories: [category], imageSources: [source]))
            }
        }
        return copy
    }
}

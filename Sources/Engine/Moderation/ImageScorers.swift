import Contracts
import HarmScoring
import Moderation

/// One image scorer the engine runs on 8-bit RGB pixels, by name (the name policies use).
public struct NamedImageScorer: Sendable {
    public let name: String
    let score: @Sendable (_ rgb: [UInt8], _ width: Int, _ height: Int) throws -> [HarmScore]

    /// `score` returns the scorer's scores for one image (their `scorer` should be `name`).
    public init(name: String, score: @escaping @Sendable (_ rgb: [UInt8], _ width: Int, _ height: Int) throws -> [HarmScore]) {
        self.name = name
        self.score = score
    }
}

/// Runs a tenant's image scorers with its scorer cascades: first every scorer that no cascade
/// may skip, then the second-stage scorers whose categories the first stages did not clear.
/// Adds one marker score per cascade category (scorer `cascade`, label = category): 1 when the
/// first stage cleared it, 2 when the second stage ran. A first stage may also be a scorer of
/// the prompt (e.g. `prompt_harm`): its scores come in as `promptScores`.
struct CascadingImageScoring: Sendable {
    let scorers: [NamedImageScorer]

    func score(
        rgb: [UInt8], width: Int, height: Int, tenant: TenantPolicy?, promptScores: [HarmScore] = []
    ) throws -> [HarmScore] {
        let cascades = tenant?.cascade ?? []
        let firsts = Set(cascades.map(\.first.scorer))
        let deferred = Set(cascades.map(\.second.scorer)).subtracting(firsts)
        var scores: [HarmScore] = []
        for scorer in scorers where !deferred.contains(scorer.name) {
            scores += try scorer.score(rgb, width, height)
        }
        if let tenant, !cascades.isEmpty {
            let skipped = tenant.skippableSecondStages(firstStageScores: promptScores + scores)
            for scorer in scorers where deferred.contains(scorer.name) && !skipped.contains(scorer.name) {
                scores += try scorer.score(rgb, width, height)
            }
            for rule in cascades {
                scores.append(HarmScore(
                    scorer: CascadeRule.markerScorer, label: rule.category, score: rule.clearsAtFirstStage(promptScores + scores) ? 1 : 2))
            }
        }
        return scores
    }

    /// The scorer called `name`, nil when not loaded.
    func scorer(named name: String) -> NamedImageScorer? {
        scorers.first { $0.name == name }
    }
}

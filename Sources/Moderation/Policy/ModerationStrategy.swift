import Contracts
import Foundation

// What a tenant's policy does beyond thresholds: escalate instead of blocking, confirm with a
// second scorer before censoring or blocking, and stop sampling early when the predicted image
// is clearly harmful. All three are optional sections of a tenant's entry in the policy file.

/// One stage of a cascade: a scorer and the labels of the category.
public struct CascadeStage: Codable, Sendable, Hashable {
    public var scorer: String
    public var labels: [String]

    public init(scorer: String, labels: [String]) {
        self.scorer = scorer
        self.labels = labels
    }
}

/// A scorer cascade for one category: the fast `first` scorer allows outright when its highest
/// score over the labels is below `allow_below`; otherwise the slower `second` scorer runs and
/// must reach `confirm_at` before any rule of the category may censor or block.
///
/// ```json
/// {"category": "nudity", "allow_below": 0.2, "confirm_at": 0.5,
///  "first": {"scorer": "nudenet", "labels": ["FEMALE_BREAST_EXPOSED"]},
///  "second": {"scorer": "safety_checker", "labels": ["nsfw"]}}
/// ```
public struct CascadeRule: Codable, Sendable, Hashable {
    public var category: String
    public var first: CascadeStage
    public var second: CascadeStage
    public var allowBelow: Double
    public var confirmAt: Double

    public init(category: String, first: CascadeStage, second: CascadeStage, allowBelow: Double, confirmAt: Double) {
        self.category = category
        self.first = first
        self.second = second
        self.allowBelow = allowBelow
        self.confirmAt = confirmAt
    }

    enum CodingKeys: String, CodingKey {
        case category, first, second
        case allowBelow = "allow_below"
        case confirmAt = "confirm_at"
    }

    /// Whether a reason belongs to this category (a rule on either stage's scorer and labels).
    func covers(_ reason: DecisionReason) -> Bool {
        (reason.scorer == first.scorer && first.labels.contains(reason.label))
            || (reason.scorer == second.scorer && second.labels.contains(reason.label))
    }

    /// The highest score of `stage` over its labels; 0 when none.
    static func maximum(_ stage: CascadeStage, in scores: [HarmScore]) -> Double {
        scores.lazy.filter { $0.scorer == stage.scorer && stage.labels.contains($0.label) }.map(\.score).max() ?? 0
    }

    /// The scorer name of cascade markers, one score per category of a scored image: label =
    /// category, score 1 when the first stage cleared it (the second stage did not run), 2 when
    /// the second stage ran.
    public static let markerScorer = "cascade"

    /// Whether the first stage clears the category, so the second stage need not run.
    public func clearsAtFirstStage(_ scores: [HarmScore]) -> Bool {
        Self.maximum(first, in: scores) < allowBelow
    }
}

/// Early abort: from step `from_step` on (1-based, counted in completed denoising steps), the
/// scheduler's predicted clean latents are decoded cheaply and scored by `scorer`; when its
/// highest score over `labels` reaches `abort_at`, sampling stops and the try counts as blocked
/// (the escalation ladder, if any, takes over). `every` checks only every n-th step (default 1).
public struct EarlyAbortPolicy: Codable, Sendable, Hashable {
    public var fromStep: Int
    public var every: Int
    public var scorer: String
    public var labels: [String]
    public var abortAt: Double

    public init(fromStep: Int, every: Int = 1, scorer: String, labels: [String], abortAt: Double) {
        self.fromStep = fromStep
        self.every = every
        self.scorer = scorer
        self.labels = labels
        self.abortAt = abortAt
    }

    enum CodingKeys: String, CodingKey {
        case fromStep = "from_step"
        case every, scorer, labels
        case abortAt = "abort_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        fromStep = try container.decode(Int.self, forKey: .fromStep)
        every = try container.decodeIfPresent(Int.self, forKey: .every) ?? 1
        scorer = try container.decode(String.self, forKey: .scorer)
        labels = try container.decode([String].self, forKey: .labels)
        abortAt = try container.decode(Double.self, forKey: .abortAt)
    }

    /// Whether the preview after `completedSteps` of `stepCount` is checked. The last step is
    /// never checked: the final image is scored anyway.
    public func checks(completedSteps: Int, stepCount: Int) -> Bool {
        completedSteps >= fromStep && completedSteps < stepCount && (completedSteps - fromStep) % every == 0
    }

    /// The highest preview score over the labels, and whether it reaches `abort_at`.
    public func evaluate(_ scores: [HarmScore]) -> (harm: Double, abort: Bool) {
        let harm = scores.lazy.filter { $0.scorer == self.scorer && self.labels.contains($0.label) }.map(\.score).max() ?? 0
        return (harm, harm >= abortAt)
    }
}

// MARK: - Validation and the cascade's effect on a decision

extension TenantPolicy {
    /// Checks the escalation, cascade and early-abort sections; `place` names the tenant.
    func validateStrategy(source: String, place: String) throws {
        if let escalation {
            let at = "\(place), escalation"
            if escalation.maxTries < 1 {
                throw PolicyError(file: source, message: "\(at): max_tries must be at least 1, got \(escalation.maxTries)")
            }
            if escalation.maxTries > escalation.steps.count + 1 {
                throw PolicyError(file: source, message: "\(at): max_tries \(escalation.maxTries) exceeds 1 + the \(escalation.steps.count) steps")
            }
            if !(escalation.timeBudgetSeconds.isFinite && escalation.timeBudgetSeconds > 0) {
                throw PolicyError(file: source, message: "\(at): time_budget_s must be a positive number, got \(escalation.timeBudgetSeconds)")
            }
            var names = Set<String>()
            for (index, step) in escalation.steps.enumerated() {
                let stepPlace = "\(at), step \(index)"
                if step.name.isEmpty { throw PolicyError(file: source, message: "\(stepPlace): name is empty") }
                if !names.insert(step.name).inserted {
                    throw PolicyError(file: source, message: "\(stepPlace): name '\(step.name)' is used twice")
                }
                if let concept = step.safetyConcept {
                    if step.minimumSafetyPreset == nil { throw PolicyError(file: source, message: "\(stepPlace): sld_concept needs sld") }
                    if concept.isEmpty { throw PolicyError(file: source, message: "\(stepPlace): sld_concept is empty") }
                }
                if !step.safegen && step.minimumSafetyPreset == nil && step.segaAway == nil {
                    throw PolicyError(file: source, message: "\(stepPlace) (\(step.name)): names no mitigation (safegen, sld or sega_away)")
                }
                if let sega = step.segaAway {
                    if let concept = sega.concept, concept.isEmpty {
                        throw PolicyError(file: source, message: "\(stepPlace): sega_away.concept is empty")
                    }
                    if let scale = sega.guidanceScale, !(scale.isFinite && scale > 0) {
                        throw PolicyError(file: source, message: "\(stepPlace): sega_away.guidance_scale must be positive, got \(scale)")
                    }
                    if let warmup = sega.warmupSteps, warmup < 0 {
                        throw PolicyError(file: source, message: "\(stepPlace): sega_away.warmup_steps must not be negative, got \(warmup)")
                    }
                    if let threshold = sega.threshold, !(0..<1).contains(threshold) {
                        throw PolicyError(file: source, message: "\(stepPlace): sega_away.threshold must be in [0, 1), got \(threshold)")
                    }
                }
            }
        }
        var categories = Set<String>()
        for (index, cascade) in cascade.enumerated() {
            let at = "\(place), cascade \(index) (\(cascade.category))"
            if cascade.category.isEmpty { throw PolicyError(file: source, message: "\(at): category is empty") }
            if !categories.insert(cascade.category).inserted {
                throw PolicyError(file: source, message: "\(at): category is listed twice")
            }
            for (name, stage) in [("first", cascade.first), ("second", cascade.second)] {
                if stage.scorer.isEmpty || stage.labels.isEmpty {
                    throw PolicyError(file: source, message: "\(at): \(name) needs a scorer and at least one label")
                }
            }
            if cascade.first.scorer == cascade.second.scorer {
                throw PolicyError(file: source, message: "\(at): first and second stage use the same scorer \(cascade.first.scorer)")
            }
            for (name, value) in [("allow_below", cascade.allowBelow), ("confirm_at", cascade.confirmAt)] where !value.isFinite {
                throw PolicyError(file: source, message: "\(at): \(name) \(value) is not a finite number")
            }
        }
        // A second-stage scorer is skipped when the first stage clears every category it
        // confirms; its rules must then lie inside those categories, or they would never fire.
        let secondScorers = Set(cascade.map(\.second.scorer))
        let firstScorers = Set(cascade.map(\.first.scorer))
        for scorer in secondScorers.subtracting(firstScorers).sorted() {
            let covered = Set(cascade.filter { $0.second.scorer == scorer }.flatMap(\.second.labels))
            for rule in rules where rule.scorer == scorer {
                let outside = rule.labels.filter { !covered.contains($0) }
                if !outside.isEmpty {
                    throw PolicyError(
                        file: source,
                        message: "\(place): rule on \(scorer) labels \(outside.joined(separator: ", ")) lies outside the cascade that may skip \(scorer); list them in a cascade's second stage")
                }
            }
        }
        if let abort = earlyAbort {
            let at = "\(place), early_abort"
            if abort.fromStep < 1 { throw PolicyError(file: source, message: "\(at): from_step must be at least 1, got \(abort.fromStep)") }
            if abort.every < 1 { throw PolicyError(file: source, message: "\(at): every must be at least 1, got \(abort.every)") }
            if abort.scorer.isEmpty || abort.labels.isEmpty {
                throw PolicyError(file: source, message: "\(at): needs a scorer and at least one label")
            }
            if !abort.abortAt.isFinite { throw PolicyError(file: source, message: "\(at): abort_at \(abort.abortAt) is not a finite number") }
        }
    }

    /// The scorers the escalation, cascade and early-abort sections refer to.
    var strategyScorers: Set<String> {
        Set(cascade.flatMap { [$0.first.scorer, $0.second.scorer] } + (earlyAbort.map { [$0.scorer] } ?? []))
    }

    /// Second-stage scorers that need not run for these (first-stage) scores: every cascade that
    /// uses the scorer as its second stage is cleared, and it is no cascade's first stage.
    public func skippableSecondStages(firstStageScores scores: [HarmScore]) -> Set<String> {
        let firsts = Set(cascade.map(\.first.scorer))
        var skippable = Set<String>()
        for scorer in Set(cascade.map(\.second.scorer)).subtracting(firsts) {
            if cascade.filter({ $0.second.scorer == scorer }).allSatisfy({ $0.clearsAtFirstStage(scores) }) {
                skippable.insert(scorer)
            }
        }
        return skippable
    }

    /// Applies the cascades to the reasons the rules produced. For each category:
    /// - first stage below `allow_below`: the category's reasons (and a missing-scorer reason
    ///   of its second stage) are dropped; an `allow` reason with stage `first` says so;
    /// - else, second stage did not run: the missing-scorer reason stays (fails closed);
    /// - else, second stage below `confirm_at`: the category's reasons are dropped; an `allow`
    ///   reason with stage `second` says so;
    /// - else the category's reasons stay, marked with stage `second` (confirmed).
    func applyCascade(to reasons: [DecisionReason], scores: [HarmScore], availableScorers: Set<String>) -> [DecisionReason] {
        var reasons = reasons
        var notes: [DecisionReason] = []
        for rule in cascade {
            // Without the first stage nothing can be cleared: the rules and their
            // missing-scorer reasons stand as they are.
            guard availableScorers.contains(rule.first.scorer) else { continue }
            let first = CascadeRule.maximum(rule.first, in: scores)
            let missingSecond: (DecisionReason) -> Bool = { $0.scorer == rule.second.scorer && $0.score == nil }
            if first < rule.allowBelow {
                reasons.removeAll { rule.covers($0) || missingSecond($0) }
                notes.append(DecisionReason(
                    scorer: rule.first.scorer, label: rule.category, score: first, threshold: rule.allowBelow, action: .allow,
                    note: "cascade: first stage below allow_below", stage: "first"))
                continue
            }
            guard availableScorers.contains(rule.second.scorer) else { continue }
            let second = CascadeRule.maximum(rule.second, in: scores)
            if second < rule.confirmAt {
                reasons.removeAll { rule.covers($0) }
                notes.append(DecisionReason(
                    scorer: rule.second.scorer, label: rule.category, score: second, threshold: rule.confirmAt, action: .allow,
                    note: "cascade: second stage did not confirm", stage: "second"))
            } else {
                for index in reasons.indices where rule.covers(reasons[index]) {
                    reasons[index].stage = "second"
                    reasons[index].note = reasons[index].note ?? "cascade: confirmed by \(rule.second.scorer)"
                }
            }
        }
        return reasons + notes
    }
}

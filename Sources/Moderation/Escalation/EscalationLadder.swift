import Contracts
import Foundation

/// One rung of a tenant's escalation ladder: the mitigations a blocked request is regenerated
/// with. A step raises the request's own plan (SafeGen on, at least an SLD preset, a SEGA edit
/// away from what was flagged) and never weakens it; steps do not accumulate.
///
/// In the policy file (validated with the policy, see `ModerationStrategy.swift`):
/// ```json
/// {"name": "sld-strong", "safegen": true, "sld": "strong"}
/// {"name": "sega-away", "safegen": true, "sld": "max", "sega_away": {"guidance_scale": 7}}
/// ```
public struct EscalationStep: Codable, Sendable, Hashable {
    /// A short name, recorded in the audit trail and the result.
    public var name: String
    public var safegen: Bool
    public var minimumSafetyPreset: SafetyPreset?
    /// The SLD concept when this step sets the preset; nil: the request's, else SLD's default.
    public var safetyConcept: String?
    public var segaAway: SegaAway?

    /// A reverse SEGA edit; `concept` nil: the labels that flagged the previous try, lowercased
    /// with underscores as spaces (e.g. `FEMALE_BREAST_EXPOSED` → "female breast exposed").
    public struct SegaAway: Codable, Sendable, Hashable {
        public var concept: String?
        public var guidanceScale: Double?
        public var warmupSteps: Int?
        public var threshold: Double?

        public init(concept: String? = nil, guidanceScale: Double? = nil, warmupSteps: Int? = nil, threshold: Double? = nil) {
            self.concept = concept
            self.guidanceScale = guidanceScale
            self.warmupSteps = warmupSteps
            self.threshold = threshold
        }

        enum CodingKeys: String, CodingKey {
            case concept
            case guidanceScale = "guidance_scale"
            case warmupSteps = "warmup_steps"
            case threshold
        }
    }

    public init(
        name: String, safegen: Bool = false, minimumSafetyPreset: SafetyPreset? = nil, safetyConcept: String? = nil,
        segaAway: SegaAway? = nil
    ) {
        self.name = name
        self.safegen = safegen
        self.minimumSafetyPreset = minimumSafetyPreset
        self.safetyConcept = safetyConcept
        self.segaAway = segaAway
    }

    enum CodingKeys: String, CodingKey {
        case name, safegen
        case minimumSafetyPreset = "sld"
        case safetyConcept = "sld_concept"
        case segaAway = "sega_away"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        safegen = try container.decodeIfPresent(Bool.self, forKey: .safegen) ?? false
        if let sld = try container.decodeIfPresent(String.self, forKey: .minimumSafetyPreset) {
            guard let preset = SafetyPreset(rawValue: sld) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .minimumSafetyPreset, in: container,
                    debugDescription: "sld '\(sld)' is not one of \(SafetyPreset.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            minimumSafetyPreset = preset
        }
        safetyConcept = try container.decodeIfPresent(String.self, forKey: .safetyConcept)
        segaAway = try container.decodeIfPresent(SegaAway.self, forKey: .segaAway)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        if safegen { try container.encode(true, forKey: .safegen) }
        try container.encodeIfPresent(minimumSafetyPreset, forKey: .minimumSafetyPreset)
        try container.encodeIfPresent(safetyConcept, forKey: .safetyConcept)
        try container.encodeIfPresent(segaAway, forKey: .segaAway)
    }

    /// The concept a SEGA step steers away from, given the labels that flagged the last try:
    /// the step's own concept, else the labels lowercased with underscores as spaces.
    public static func concept(fromFlagged labels: [String]) -> String {
        var seen = Set<String>()
        return labels.map { $0.replacingOccurrences(of: "_", with: " ").lowercased() }
            .filter { seen.insert($0).inserted }
            .joined(separator: ", ")
    }

    /// Whether this step changes anything compared with what the previous try applied. A step
    /// that adds nothing (e.g. "SafeGen on" where SafeGen was already on) is skipped.
    public func strengthens(_ previous: AppliedMitigations) -> Bool {
        if safegen && !previous.safegen { return true }
        if let minimum = minimumSafetyPreset {
            guard let applied = previous.safetyGuidance else { return true }
            if let preset = applied.preset {
                if SafetyPreset.rank(minimum) > SafetyPreset.rank(preset) { return true }
            } else if applied.parameters != minimum.parameters {
                // Explicit parameters of the request: a preset is a different, stronger ask only
                // when it is not what is already applied.
                return true
            }
        }
        return segaAway != nil
    }

    /// `base` (the request's plan) raised by this step. `flagged` are the image labels that
    /// blocked the previous try, for a SEGA edit without a concept of its own.
    public func apply(to base: MitigationPlan, flagged: [String]) -> MitigationPlan {
        var plan = base
        var mitigations = plan.mitigations
        if safegen, mitigations.safegen != true {
            mitigations.safegen = true
        }
        if let minimum = minimumSafetyPreset {
            switch mitigations.safetyGuidance {
            case nil:
                mitigations.safetyGuidance = SafetyGuidance(preset: minimum, concept: safetyConcept)
            case let guidance?:
                if let preset = guidance.preset, SafetyPreset.rank(preset) < SafetyPreset.rank(minimum) {
                    mitigations.safetyGuidance = SafetyGuidance(preset: minimum, concept: guidance.concept ?? safetyConcept)
                } else if guidance.preset == nil {
                    mitigations.safetyGuidance = SafetyGuidance(preset: minimum, concept: guidance.concept ?? safetyConcept)
                }
            }
        }
        if let sega = segaAway {
            let concept = sega.concept ?? Self.concept(fromFlagged: flagged)
            if !concept.isEmpty {
                var edits = mitigations.semanticEdits ?? []
                edits.append(SemanticEdit(
                    concept: concept, reverse: true, guidanceScale: sega.guidanceScale, warmupSteps: sega.warmupSteps,
                    threshold: sega.threshold))
                mitigations.semanticEdits = edits
            }
        }
        plan.mitigations = mitigations
        plan.forcedByPolicy = base.forcedByPolicy + ["escalation:\(name)"]
        return plan
    }
}

extension SafetyPreset {
    /// weak 0 < medium 1 < strong 2 < max 3.
    static func rank(_ preset: SafetyPreset) -> Int { allCases.firstIndex(of: preset)! }
}

/// A tenant's escalation ladder (the `escalation` section of its policy): regenerate a blocked
/// request with the next step, up to `max_tries` tries in all (the first, unescalated one
/// included) and within `time_budget_s` seconds for the whole request.
public struct EscalationLadder: Codable, Sendable, Hashable {
    public var steps: [EscalationStep]
    public var maxTries: Int
    /// The time budget in seconds, as the policy file gives it (validated positive and finite).
    public var timeBudgetSeconds: Double

    public init(steps: [EscalationStep], maxTries: Int, timeBudgetSeconds: Double) {
        self.steps = steps
        self.maxTries = maxTries
        self.timeBudgetSeconds = timeBudgetSeconds
    }

    public init(steps: [EscalationStep], maxTries: Int, timeBudget: Duration) {
        let (seconds, attoseconds) = timeBudget.components
        self.init(steps: steps, maxTries: maxTries, timeBudgetSeconds: Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// The time budget, to the millisecond.
    public var timeBudget: Duration { .milliseconds(Int64((timeBudgetSeconds * 1000).rounded())) }

    enum CodingKeys: String, CodingKey {
        case steps
        case maxTries = "max_tries"
        case timeBudgetSeconds = "time_budget_s"
    }

    /// What to do after a try.
    public enum Move: Sendable, Equatable {
        /// The try passed: publish it.
        case publish
        /// Regenerate with the step at `index` of ``steps``.
        case retry(stepIndex: Int)
        /// Stop and block; `why` is recorded.
        case block(why: String)
    }

    /// What is known after the latest try.
    public struct State: Sendable, Equatable {
        /// Decision of the latest try.
        public var decision: Decision
        /// Whether only prompt scores block it (regenerating cannot change that).
        public var blockedByPromptOnly: Bool
        /// Tries made so far (≥ 1).
        public var tries: Int
        /// Index in ``steps`` of the latest try's step; nil for the first try.
        public var lastStepIndex: Int?
        /// Mitigations the latest try applied.
        public var applied: AppliedMitigations
        /// Time since the request's first try started.
        public var elapsed: Duration
        /// Duration of the latest try: the estimate for the next one.
        public var lastTryDuration: Duration

        public init(decision: Decision, blockedByPromptOnly: Bool, tries: Int, lastStepIndex: Int?,
                    applied: AppliedMitigations, elapsed: Duration, lastTryDuration: Duration) {
            self.decision = decision
            self.blockedByPromptOnly = blockedByPromptOnly
            self.tries = tries
            self.lastStepIndex = lastStepIndex
            self.applied = applied
            self.elapsed = elapsed
            self.lastTryDuration = lastTryDuration
        }
    }

    /// The next move: publish a passing try; otherwise the next step that strengthens what the
    /// latest try applied, while tries and the time budget (elapsed plus the latest try's
    /// duration as the estimate of the next) allow; otherwise block.
    public func next(after state: State) -> Move {
        if state.decision != .block { return .publish }
        if state.blockedByPromptOnly { return .block(why: "blocked by the prompt's scores; regenerating cannot change them") }
        if state.tries >= maxTries { return .block(why: "escalation used all \(maxTries) tries") }
        if state.elapsed + state.lastTryDuration > timeBudget {
            return .block(why: "escalation time budget \(timeBudget) would be exceeded")
        }
        var index = state.lastStepIndex.map { $0 + 1 } ?? 0
        while index < steps.count, !steps[index].strengthens(state.applied) { index += 1 }
        guard index < steps.count else { return .block(why: "escalation has no stronger step left") }
        return .retry(stepIndex: index)
    }
}

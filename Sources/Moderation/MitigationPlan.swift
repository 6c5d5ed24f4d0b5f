import Contracts

/// The mitigations a generation must apply: what the request asked for plus what the worker's
/// policy forces. The engine resolves presets and defaults and reports them back in
/// ``GeneratedImage/appliedMitigations``.
public struct MitigationPlan: Sendable, Equatable {
    public var mitigations: Mitigations
    /// Names of mitigations the policy added (`safegen`, `safety_guidance`).
    public var forcedByPolicy: [String]
    /// The value the tenant's fairness stream assigned the request (Fair Diffusion); nil draws
    /// it from the seed.
    public var fairnessAssignment: FairnessAssignment?

    public init(mitigations: Mitigations, forcedByPolicy: [String] = [], fairnessAssignment: FairnessAssignment? = nil) {
        self.mitigations = mitigations
        self.forcedByPolicy = forcedByPolicy
        self.fairnessAssignment = fairnessAssignment
    }
}

/// Worker policy on mitigations: what is forced on every request regardless of what it asks.
public struct MitigationPolicy: Sendable, Equatable, Codable {
    /// Always use the SafeGen overlay. Default: false.
    public var forceSafeGen: Bool
    /// At least this SLD preset on every request (a stronger request preset wins). Default: none.
    public var minimumSafetyPreset: SafetyPreset?

    public init(forceSafeGen: Bool = false, minimumSafetyPreset: SafetyPreset? = nil) {
        self.forceSafeGen = forceSafeGen
        self.minimumSafetyPreset = minimumSafetyPreset
    }

    /// The plan for `request`: its mitigations, raised to the policy's minimum.
    public func plan(for request: GenerationRequest) -> MitigationPlan {
        var mitigations = request.mitigations
        var forced: [String] = []
        if forceSafeGen, mitigations.safegen != true {
            mitigations.safegen = true
            forced.append("safegen")
        }
        if let minimum = minimumSafetyPreset {
            let order = SafetyPreset.allCases
            switch mitigations.safetyGuidance {
            case nil:
                mitigations.safetyGuidance = SafetyGuidance(preset: minimum)
                forced.append("safety_guidance")
            case let guidance?:
                if let preset = guidance.preset, order.firstIndex(of: preset)! < order.firstIndex(of: minimum)! {
                    mitigations.safetyGuidance = SafetyGuidance(preset: minimum, concept: guidance.concept)
                    forced.append("safety_guidance")
                }
            // Explicit parameters are the tenant's own choice and are kept as they are.
            }
        }
        return MitigationPlan(mitigations: mitigations, forcedByPolicy: forced)
    }
}

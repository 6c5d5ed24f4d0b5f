/// Mitigations a request asks for. Absent optional members mean "not requested".
///
/// Mirrors the `mitigations` object of `schemas/generation-request.schema.json`. The worker's
/// policy may force more; what was actually applied is recorded in
/// ``AppliedMitigations`` of the result.
public struct Mitigations: Codable, Sendable, Equatable {
    /// Use the SafeGen-edited self-attention weights. Absent: on wherever the worker has a
    /// SafeGen overlay (the default of the deployment); `true` on a worker without one fails
    /// the request with a clear reason, `false` generates with the base weights.
    public var safegen: Bool?
    /// Safe Latent Diffusion: a preset or explicit parameters.
    public var safetyGuidance: SafetyGuidance?
    /// SEGA semantic edits (add or remove concepts).
    public var semanticEdits: [SemanticEdit]?
    /// SEGA momentum shared by all semantic edits (and Fair Diffusion's edits); absent: SEGA's
    /// defaults (scale 0.1, beta 0.4), or Fair Diffusion's when only fairness is asked for.
    public var semanticMomentum: SemanticMomentum?
    /// Fair Diffusion: steer an attribute family towards target proportions.
    public var fairness: FairnessTarget?
    /// Attribute switching: change the condition at timestep `tau`.
    public var attributeSwitching: AttributeSwitching?

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case safegen
        case safetyGuidance = "safety_guidance"
        case semanticEdits = "semantic_edits"
        case semanticMomentum = "semantic_momentum"
        case fairness
        case attributeSwitching = "attribute_switching"
    }

    public init(
        safegen: Bool? = nil, safetyGuidance: SafetyGuidance? = nil, semanticEdits: [SemanticEdit]? = nil,
        semanticMomentum: SemanticMomentum? = nil, fairness: FairnessTarget? = nil,
        attributeSwitching: AttributeSwitching? = nil
    ) {
        self.safegen = safegen
        self.safetyGuidance = safetyGuidance
        self.semanticEdits = semanticEdits
        self.semanticMomentum = semanticMomentum
        self.fairness = fairness
        self.attributeSwitching = attributeSwitching
    }
}

/// The four Safe Latent Diffusion presets of the paper (`SafetyConfig`).
public enum SafetyPreset: String, Codable, Sendable, CaseIterable {
    case weak, medium, strong, max

    /// The preset's parameters, as published with the SLD pipeline.
    public var parameters: SLDParameters {
        switch self {
        case .weak: SLDParameters(warmupSteps: 15, guidanceScale: 20, threshold: 0.0, momentumScale: 0.0, momentumBeta: 0.0)
        case .medium: SLDParameters(warmupSteps: 10, guidanceScale: 1000, threshold: 0.01, momentumScale: 0.3, momentumBeta: 0.4)
        case .strong: SLDParameters(warmupSteps: 7, guidanceScale: 2000, threshold: 0.025, momentumScale: 0.5, momentumBeta: 0.7)
        case .max: SLDParameters(warmupSteps: 0, guidanceScale: 5000, threshold: 1.0, momentumScale: 0.5, momentumBeta: 0.7)
        }
    }
}

/// Explicit Safe Latent Diffusion parameters (names follow the SLD pipeline's `sld_*`).
public struct SLDParameters: Codable, Sendable, Hashable {
    public var warmupSteps: Int
    public var guidanceScale: Double
    public var threshold: Double
    public var momentumScale: Double
    public var momentumBeta: Double

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case warmupSteps = "warmup_steps"
        case guidanceScale = "guidance_scale"
        case threshold
        case momentumScale = "momentum_scale"
        case momentumBeta = "momentum_beta"
    }

    public init(warmupSteps: Int, guidanceScale: Double, threshold: Double, momentumScale: Double, momentumBeta: Double) {
        self.warmupSteps = warmupSteps
        self.guidanceScale = guidanceScale
        self.threshold = threshold
        self.momentumScale = momentumScale
        self.momentumBeta = momentumBeta
    }
}

extension SLDParameters {
    /// SLD is active only when `s_S > 1` (and classifier-free guidance is on), as in diffusers.
    public var isActive: Bool { guidanceScale > 1 }

    /// Why the parameters cannot be applied, or nil (warmup_steps >= 0, guidance_scale >= 0,
    /// momentum_scale >= 0, 0 <= momentum_beta < 1, all finite).
    public var problem: String? {
        let ok = warmupSteps >= 0 && guidanceScale.isFinite && guidanceScale >= 0 && threshold.isFinite
            && momentumScale.isFinite && momentumScale >= 0 && momentumBeta.isFinite && (0..<1).contains(momentumBeta)
        return ok ? nil : "out of range: warmup_steps >= 0, guidance_scale >= 0, momentum_scale >= 0, 0 <= momentum_beta < 1"
    }
}

/// Safe Latent Diffusion request: exactly one of `preset` or `parameters`, and optionally a
/// safety concept text that replaces the worker's default concept.
public struct SafetyGuidance: Codable, Sendable, Equatable {
    public var preset: SafetyPreset?
    public var parameters: SLDParameters?
    public var concept: String?

    /// The default safety concept text of the SLD paper, used when a request names none.
    public static let defaultConcept =
        "an image showing hate, harassment, violence, suffering, humiliation, harm, suicide, sexual, nudity, "
        + "bodily fluids, blood, obscene gestures, illegal activity, drug use, theft, vandalism, weapons, "
        + "child abuse, brutality, cruelty"

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case preset, parameters, concept
    }

    public init(preset: SafetyPreset? = nil, parameters: SLDParameters? = nil, concept: String? = nil) {
        self.preset = preset
        self.parameters = parameters
        self.concept = concept
    }

    /// The parameters in effect: the preset's, or the explicit ones.
    public var effectiveParameters: SLDParameters? { parameters ?? preset?.parameters }
}

/// One SEGA concept edit. Optional members take the SEGA defaults documented in the schema.
public struct SemanticEdit: Codable, Sendable, Hashable {
    /// The concept text to add (or remove when `reverse` is true).
    public var concept: String
    /// Remove the concept instead of adding it.
    public var reverse: Bool
    public var guidanceScale: Double?
    public var warmupSteps: Int?
    public var cooldownSteps: Int?
    /// Percentile threshold in (0, 1): 0.9 keeps the top 10 % of elements.
    public var threshold: Double?
    public var weight: Double?

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case concept, reverse
        case guidanceScale = "guidance_scale"
        case warmupSteps = "warmup_steps"
        case cooldownSteps = "cooldown_steps"
        case threshold, weight
    }

    public init(
        concept: String, reverse: Bool = false, guidanceScale: Double? = nil, warmupSteps: Int? = nil,
        cooldownSteps: Int? = nil, threshold: Double? = nil, weight: Double? = nil
    ) {
        self.concept = concept
        self.reverse = reverse
        self.guidanceScale = guidanceScale
        self.warmupSteps = warmupSteps
        self.cooldownSteps = cooldownSteps
        self.threshold = threshold
        self.weight = weight
    }
}

extension SemanticEdit {
    /// SEGA's defaults (as in the schema and diffusers' semantic pipeline).
    public static let defaultGuidanceScale = 5.0
    public static let defaultWarmupSteps = 10
    public static let defaultThreshold = 0.9
    public static let defaultWeight = 1.0

    /// This edit with every default filled in (`cooldown_steps` stays absent: never): the
    /// parameters the sampler applies, as recorded in the result's `mitigations`.
    public var resolved: SemanticEdit {
        SemanticEdit(
            concept: concept, reverse: reverse, guidanceScale: guidanceScale ?? Self.defaultGuidanceScale,
            warmupSteps: warmupSteps ?? Self.defaultWarmupSteps, cooldownSteps: cooldownSteps,
            threshold: threshold ?? Self.defaultThreshold, weight: weight ?? Self.defaultWeight)
    }

    /// Why the edit cannot be applied, or nil: an empty concept or a parameter out of range
    /// (guidance_scale >= 0, warmup_steps >= 0, cooldown_steps >= 0, 0 <= threshold < 1,
    /// weight >= 0, all finite).
    public var problem: String? {
        if concept.isEmpty { return "the concept is empty" }
        let ok = (guidanceScale.map { $0.isFinite && $0 >= 0 } ?? true)
            && (warmupSteps.map { $0 >= 0 } ?? true)
            && (cooldownSteps.map { $0 >= 0 } ?? true)
            && (threshold.map { $0.isFinite && $0 >= 0 && $0 < 1 } ?? true)
            && (weight.map { $0.isFinite && $0 >= 0 } ?? true)
        return ok ? nil : "out of range: guidance_scale >= 0, warmup_steps >= 0, cooldown_steps >= 0, 0 <= threshold < 1, weight >= 0"
    }
}

/// SEGA momentum: `scale` (s_m) and `beta` (β) of the momentum shared by all edits.
public struct SemanticMomentum: Codable, Sendable, Hashable {
    public var scale: Double
    public var beta: Double

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case scale, beta
    }

    public init(scale: Double, beta: Double) {
        self.scale = scale
        self.beta = beta
    }

    /// SEGA's default momentum (scale 0.1, beta 0.4), used when a request's edits name none.
    public static let standard = SemanticMomentum(scale: 0.1, beta: 0.4)
}

/// Fair Diffusion target: an attribute family the worker knows (from its families file, e.g.
/// `gender`) and the share each of its values should have, e.g. `{"female": 0.5, "male": 0.5}`.
/// The value for each image is drawn from the request seed and recorded in the result.
public struct FairnessTarget: Codable, Sendable, Equatable {
    public var family: String
    public var proportions: [String: Double]

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case family, proportions
    }

    public init(family: String, proportions: [String: Double]) {
        self.family = family
        self.proportions = proportions
    }
}

/// Attribute switching: denoise with the request prompt while the timestep is >= `tau`, then
/// with `switchPrompt`.
public struct AttributeSwitching: Codable, Sendable, Equatable {
    public var switchPrompt: String
    /// Timestep value 0 ... 1000 (0 never switches, 1000 switches from the start). Absent: the
    /// model folder's `attribute-switching.json` τ when it has one, else 800.
    public var tau: Int?

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case switchPrompt = "switch_prompt"
        case tau
    }

    public init(switchPrompt: String, tau: Int? = nil) {
        self.switchPrompt = switchPrompt
        self.tau = tau
    }
}

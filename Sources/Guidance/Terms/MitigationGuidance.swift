import Contracts
import Diffusion

/// A request's mitigations as the sampling loop applies them: the guidance terms (Safe Latent
/// Diffusion, SEGA edits, Fair Diffusion edits), the prompt switch of attribute switching, and
/// the record of what is applied with its effective parameters.
///
/// ``init(_:seed:guidanceScale:families:defaultSwitchTau:fairnessAssignment:)`` is the one place mitigations become guidance: the
/// worker's engine and `chaperone eval` both build it, so an evaluation measures the code the
/// worker runs. SafeGen is not a term (it swaps the UNet); the caller picks the pipeline.
public struct MitigationGuidance {
    public var terms: [any GuidanceTerm]
    public var promptSwitch: StableDiffusionPipeline.PromptSwitch?
    /// What is applied, with presets resolved and defaults filled (`safegen` left to the caller).
    public var applied: AppliedMitigations

    /// Resolves `mitigations` for a generation with `seed` (Fair Diffusion draws from it) and
    /// classifier-free guidance scale `guidanceScale`. Throws ``GuidanceError/invalidRequest(_:)``
    /// for parameters the sampler cannot apply.
    /// `defaultSwitchTau`: the attribute-switching τ of a request that gives none (the model
    /// folder's ``AttributeSwitchingSettings`` τ, else ``AttributeSwitch/defaultTau``).
    /// `fairnessAssignment`: the value the tenant's stream gave this request's Fair Diffusion
    /// family (the worker's); nil draws it from the seed.
    public init(
        _ mitigations: Mitigations, seed: UInt64, guidanceScale: Double, families: AttributeFamilies,
        defaultSwitchTau: Int, fairnessAssignment: FairnessAssignment? = nil
    ) throws {
        var applied = AppliedMitigations()
        var terms: [any GuidanceTerm] = []
        if let guidance = mitigations.safetyGuidance, let parameters = guidance.effectiveParameters {
            if let problem = parameters.problem { throw GuidanceError.invalidRequest("safety guidance parameters \(problem)") }
            let concept = guidance.concept ?? SafetyGuidance.defaultConcept
            terms.append(SafeLatentDiffusionTerm(parameters: parameters, concept: concept))
            applied.safetyGuidance = AppliedSafetyGuidance(preset: guidance.preset, parameters: parameters, concept: concept)
        }

        var edits = (mitigations.semanticEdits ?? []).map(\.resolved)
        for edit in edits {
            if let problem = edit.problem { throw GuidanceError.invalidRequest("semantic edit '\(edit.concept)' \(problem)") }
        }
        applied.semanticEdits = edits
        var momentum = mitigations.semanticMomentum
        if let fairness = mitigations.fairness {
            let draw = try FairDiffusion.plan(
                target: fairness, seed: seed, families: families, assignment: fairnessAssignment)
            edits += draw.edits
            momentum = momentum ?? draw.momentum
            applied.fairness = AppliedFairness(
                family: fairness.family, proportions: fairness.proportions, value: draw.value, draw: draw.draw,
                streamIndex: draw.streamIndex, edits: draw.edits)
        }
        if !edits.isEmpty {
            let effective = momentum ?? .standard
            terms.append(SemanticGuidanceTerm(edits: edits, momentum: effective))
            applied.semanticMomentum = effective
        }

        var promptSwitch: StableDiffusionPipeline.PromptSwitch?
        if let switching = mitigations.attributeSwitching {
            let attribute = AttributeSwitch(switchedPrompt: switching.switchPrompt, tau: switching.tau ?? defaultSwitchTau)
            if let problem = attribute.validationProblem() { throw GuidanceError.invalidRequest(problem) }
            promptSwitch = StableDiffusionPipeline.PromptSwitch(prompt: attribute.switchedPrompt, tau: attribute.tau)
            applied.attributeSwitching = AttributeSwitching(switchPrompt: attribute.switchedPrompt, tau: attribute.tau)
        }
        if !terms.isEmpty && guidanceScale <= 1 {
            throw GuidanceError.invalidRequest("safety guidance and semantic edits need guidance_scale > 1 (classifier-free guidance)")
        }
        self.terms = terms
        self.promptSwitch = promptSwitch
        self.applied = applied
    }
}

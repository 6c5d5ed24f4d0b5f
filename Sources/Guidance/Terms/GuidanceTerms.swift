import Contracts
import Diffusion
import Tensor

/// Safe Latent Diffusion as a pipeline guidance term: adds the safety-concept branch and
/// subtracts `s · γ` from the guided prediction once warm, so the result equals diffusers'
/// `e_u + s · ((e_c − e_u) − γ)`.
public struct SafeLatentDiffusionTerm: GuidanceTerm {
    public static let branchName = "sld.safety"

    public let concept: String
    private var state: SafeLatentDiffusion

    public init(parameters: SLDParameters, concept: String = SafetyGuidance.defaultConcept) {
        self.concept = concept
        self.state = SafeLatentDiffusion(parameters: parameters)
    }

    public var parameters: SLDParameters { state.parameters }

    public var conditions: [GuidanceCondition] {
        state.parameters.isActive ? [GuidanceCondition(name: Self.branchName, source: .prompt(concept))] : []
    }

    /// Without momentum the correction before warm-up has no later effect, so the safety branch
    /// is evaluated only from the warm-up step on (saving a third of the UNet work until then).
    public func activeBranches(stepIndex: Int, timestep: Float) -> [String] {
        guard state.parameters.isActive else { return [] }
        if state.parameters.momentumScale == 0 && stepIndex < state.parameters.warmupSteps { return [] }
        return [Self.branchName]
    }

    public mutating func apply(_ step: GuidanceStep, to noisePrediction: inout Tensor) throws {
        // SLD runs only with classifier-free guidance, as in diffusers.
        guard let unconditional = step.unconditional, let safety = step.branches[Self.branchName] else { return }
        if let gamma = state.correction(
            uncond: unconditional, text: step.conditional, safety: safety, step: step.stepIndex) {
            noisePrediction = noisePrediction - gamma * step.guidanceScale
        }
    }
}

/// SEGA as a pipeline guidance term: one branch per edit; adds `G` (not scaled by the CFG
/// scale) to the guided prediction.
public struct SemanticGuidanceTerm: GuidanceTerm {
    private var state: SemanticGuidance
    private let prefix: String

    /// - Parameter prefix: branch-name prefix, unique per term (two SEGA terms in one generation,
    ///   e.g. safety edits and Fair Diffusion edits, need different prefixes).
    public init(edits: [SemanticEdit], momentum: SemanticMomentum, prefix: String = "sega") {
        self.state = SemanticGuidance(edits: edits, momentum: momentum)
        self.prefix = prefix
    }

    public var edits: [SemanticEdit] { state.edits }

    private func branch(_ index: Int) -> String { "\(prefix).\(index)" }

    public var conditions: [GuidanceCondition] {
        state.edits.enumerated().map { GuidanceCondition(name: branch($0.offset), source: .prompt($0.element.concept)) }
    }

    /// A cooled-down edit contributes zero, so its branch is not evaluated.
    public func activeBranches(stepIndex: Int, timestep: Float) -> [String] {
        state.edits.enumerated().compactMap { index, edit in
            if let cooldown = edit.cooldownSteps, stepIndex >= cooldown { return nil }
            return branch(index)
        }
    }

    public mutating func apply(_ step: GuidanceStep, to noisePrediction: inout Tensor) throws {
        guard let unconditional = step.unconditional, !state.edits.isEmpty else { return }
        let predictions = state.edits.indices.map { step.branches[branch($0)] ?? unconditional }
        if let term = state.term(uncond: unconditional, editPredictions: predictions, step: step.stepIndex) {
            noisePrediction = noisePrediction + term
        }
    }
}

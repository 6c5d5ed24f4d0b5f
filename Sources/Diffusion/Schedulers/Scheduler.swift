import Tensor

/// One denoising step's results.
public struct SchedulerStepResult: Sendable {
    /// The sample for the next (less noisy) timestep: `prev_sample` in diffusers.
    public var previousSample: Tensor
    /// The scheduler's estimate of the clean latent x0 at this step (`pred_original_sample`),
    /// used to preview or abort a generation early.
    public var predictedOriginal: Tensor

    public init(previousSample: Tensor, predictedOriginal: Tensor) {
        self.previousSample = previousSample
        self.predictedOriginal = predictedOriginal
    }
}

/// A diffusion sampler with diffusers' semantics: the timesteps to visit, how to scale the
/// model input, and how to move the sample one step given the model's prediction.
///
/// A scheduler is made for a fixed number of inference steps (diffusers' `set_timesteps`) and
/// is stateful for multistep methods, so `step` must be called once per step index, in order
/// `0..<timesteps.count`. Samples and model outputs are elementwise, any shape.
public protocol Scheduler: Sendable {
    /// The model timesteps, one per step, in the order they are visited (float because
    /// Euler-type schedulers interpolate; integral values for the others).
    var timesteps: [Float] { get }

    /// Standard deviation of the initial noise: latents are `randn × initNoiseSigma`.
    var initNoiseSigma: Float { get }

    /// The UNet input for step `stepIndex` (`scale_model_input`).
    func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor

    /// Advances `sample` by one step. `random` supplies noise for stochastic (ancestral)
    /// schedulers, drawn exactly as diffusers draws it from its `torch.Generator`; deterministic
    /// schedulers leave it untouched.
    mutating func step<R: RandomSource>(
        modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout R
    ) -> SchedulerStepResult
}

/// The schedulers this module implements, by their diffusers class names.
public enum SchedulerKind: String, Sendable, CaseIterable, Codable {
    case ddim = "DDIMScheduler"
    case pndm = "PNDMScheduler"
    case eulerDiscrete = "EulerDiscreteScheduler"
    case eulerAncestralDiscrete = "EulerAncestralDiscreteScheduler"
    case dpmSolverMultistep = "DPMSolverMultistepScheduler"
    case lcm = "LCMScheduler"

    /// Short command-line names: `ddim`, `pndm`, `euler`, `euler-a`, `dpm++2m`, `lcm`.
    public var shortName: String {
        switch self {
        case .ddim: "ddim"
        case .pndm: "pndm"
        case .eulerDiscrete: "euler"
        case .eulerAncestralDiscrete: "euler-a"
        case .dpmSolverMultistep: "dpm++2m"
        case .lcm: "lcm"
        }
    }

    /// Accepts a short name (`euler-a`), the diffusers class name, or a few common aliases.
    public init?(name: String) {
        let lowered = name.lowercased()
        if let kind = SchedulerKind.allCases.first(where: {
            $0.shortName == lowered || $0.rawValue.lowercased() == lowered
        }) {
            self = kind
            return
        }
        switch lowered {
        case "euler_a", "euler-ancestral", "euler_ancestral": self = .eulerAncestralDiscrete
        case "dpm++", "dpmpp", "dpmpp-2m", "dpmpp_2m", "dpm++-2m", "dpmsolver++": self = .dpmSolverMultistep
        default: return nil
        }
    }

    /// Builds this scheduler from a diffusers scheduler config for `steps` inference steps.
    /// Fields the config does not set take this scheduler's own defaults, as diffusers'
    /// `from_config` does.
    public func make(config: SchedulerConfig, steps: Int) throws -> any Scheduler {
        switch self {
        case .ddim: try DDIMScheduler(config: config, steps: steps)
        case .pndm: try PNDMScheduler(config: config, steps: steps)
        case .eulerDiscrete: try EulerDiscreteScheduler(config: config, steps: steps)
        case .eulerAncestralDiscrete: try EulerAncestralDiscreteScheduler(config: config, steps: steps)
        case .dpmSolverMultistep: try DPMSolverMultistepScheduler(config: config, steps: steps)
        case .lcm: try LCMScheduler(config: config, steps: steps)
        }
    }
}

import Tensor

/// Euler's method on the probability-flow ODE (Karras et al. 2022, Algorithm 2 without
/// churn), matching diffusers' `schedulers/scheduling_euler_discrete.py`
/// (`EulerDiscreteScheduler`, 0.42).
///
/// Config: betas, `timestep_spacing` (default `linspace`), `steps_offset`, `prediction_type`,
/// `use_karras_sigmas`. Linear interpolation of sigmas and a final sigma of zero (the defaults);
/// other `interpolation_type`/`final_sigmas_type`/`timestep_type` values are rejected.
public struct EulerDiscreteScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float
    private let table: EulerTable
    private let prediction: PredictionType

    /// Builds the scheduler for `steps` inference steps.
    public init(config: SchedulerConfig, steps: Int) throws {
        let name = "EulerDiscreteScheduler"
        let resolved = try ResolvedSchedulerConfig(config, defaultSpacing: .linspace, name: name)
        try resolved.validate(steps: steps, name: name)
        try EulerDiscreteScheduler.rejectUnsupported(config, name: name)
        table = try EulerTable(resolved, steps: steps, karras: config.useKarrasSigmas ?? false, name: name)
        timesteps = table.timesteps
        initNoiseSigma = table.initNoiseSigma
        prediction = resolved.predictionType
    }

    static func rejectUnsupported(_ config: SchedulerConfig, name: String) throws {
        if let value = config.interpolationType, value != "linear" {
            throw DiffusionError(.invalidConfig, "\(name): interpolation_type \"\(value)\" is not supported (linear)")
        }
        if let value = config.finalSigmasType, value != "zero" {
            throw DiffusionError(.invalidConfig, "\(name): final_sigmas_type \"\(value)\" is not supported (zero)")
        }
        if let value = config.timestepType, value != "discrete" {
            throw DiffusionError(.invalidConfig, "\(name): timestep_type \"\(value)\" is not supported (discrete)")
        }
        if config.useExponentialSigmas == true || config.useBetaSigmas == true {
            throw DiffusionError(.invalidConfig, "\(name): exponential and beta sigmas are not supported")
        }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        Elementwise.map(sample) { table.scale($0, stepIndex: stepIndex) }
    }

    public mutating func step<R: RandomSource>(
        modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout R
    ) -> SchedulerStepResult {
        precondition(timesteps.indices.contains(stepIndex), "EulerDiscreteScheduler: step index \(stepIndex) out of range")
        let sigma = table.sigmas[stepIndex]
        let sigmaHat = sigma * (0 + 1)  // no churn: γ = 0
        let original: Tensor
        switch prediction {
        case .epsilon:
            original = Elementwise.map(sample, modelOutput) { x, e in x - sigmaHat * e }
        case .vPrediction:
            let scale = -sigma / (sigma * sigma + 1).squareRoot()
            let denominator = sigma * sigma + 1
            original = Elementwise.map(modelOutput, sample) { v, x in v * scale + x / denominator }
        }
        let dt = table.sigmas[stepIndex + 1] - sigmaHat
        let previous = Elementwise.map(sample, original) { x, x0 in x + ((x - x0) / sigmaHat) * dt }
        return SchedulerStepResult(previousSample: previous, predictedOriginal: original)
    }
}

import Tensor

/// Denoising diffusion implicit models, deterministic (η = 0), matching diffusers'
/// `schedulers/scheduling_ddim.py` (`DDIMScheduler`, 0.42).
///
/// Config: betas, `steps_offset`, `set_alpha_to_one`, `timestep_spacing`
/// (default `leading`), `prediction_type`, `clip_sample` / `clip_sample_range` (default on, 1.0;
/// SD ships it off).
public struct DDIMScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float = 1
    private let schedule: NoiseSchedule
    private let finalAlphaCumprod: Float
    private let stepRatio: Int
    private let prediction: PredictionType
    private let clipRange: Float?

    /// Builds the scheduler for `steps` inference steps.
    public init(config: SchedulerConfig, steps: Int) throws {
        let name = "DDIMScheduler"
        let resolved = try ResolvedSchedulerConfig(config, defaultSpacing: .leading, name: name)
        try resolved.validate(steps: steps, name: name)
        schedule = try NoiseSchedule(resolved)
        finalAlphaCumprod = (config.setAlphaToOne ?? true) ? 1 : schedule.alphasCumprod[0]
        prediction = resolved.predictionType
        clipRange = (config.clipSample ?? true) ? Float(config.clipSampleRange ?? 1) : nil
        let train = resolved.trainTimesteps
        stepRatio = train / steps
        let values: [Int]
        switch resolved.spacing {
        case .linspace:
            values = NumPy.linspace(0, Double(train - 1), steps).reversed().map { Int(NumPy.round($0)) }
        case .leading:
            values = (0..<steps).reversed().map { $0 * (train / steps) + resolved.stepsOffset }
        case .trailing:
            values = NumPy.arange(Double(train), 0, -Double(train) / Double(steps)).map { Int(NumPy.round($0)) - 1 }
        }
        timesteps = values.map(Float.init)
        guard values.allSatisfy({ (0..<train).contains($0) }) else {
            throw DiffusionError(.invalidConfig, "\(name): steps_offset \(resolved.stepsOffset) puts timesteps outside 0..<\(train)")
        }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<R: RandomSource>(
        modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout R
    ) -> SchedulerStepResult {
        precondition(timesteps.indices.contains(stepIndex), "DDIMScheduler: step index \(stepIndex) out of range")
        let t = Int(timesteps[stepIndex])
        let previousT = t - stepRatio
        let alphaProd = schedule.alphasCumprod[t]
        let alphaProdPrevious = previousT >= 0 ? schedule.alphasCumprod[previousT] : finalAlphaCumprod
        let betaProd = 1 - alphaProd
        let sqrtAlpha = alphaProd.squareRoot()
        let sqrtBeta = betaProd.squareRoot()

        var original: Tensor
        let epsilon: Tensor
        switch prediction {
        case .epsilon:
            original = Elementwise.map(sample, modelOutput) { x, e in (x - sqrtBeta * e) / sqrtAlpha }
            epsilon = modelOutput
        case .vPrediction:
            original = Elementwise.map(sample, modelOutput) { x, v in sqrtAlpha * x - sqrtBeta * v }
            epsilon = Elementwise.map(modelOutput, sample) { v, x in sqrtAlpha * v + sqrtBeta * x }
        }
        if let range = clipRange {
            original = Elementwise.map(original) { min(max($0, -range), range) }
        }
        // η = 0: no variance term, the direction keeps all of 1 - ᾱ_prev.
        let directionScale = (1 - alphaProdPrevious - 0).squareRoot()
        let sqrtAlphaPrevious = alphaProdPrevious.squareRoot()
        let previous = Elementwise.map(original, epsilon) { x0, e in sqrtAlphaPrevious * x0 + directionScale * e }
        return SchedulerStepResult(previousSample: previous, predictedOriginal: original)
    }
}

import Tensor

/// Latent consistency model sampling, matching diffusers'
/// `schedulers/scheduling_lcm.py` (`LCMScheduler`, 0.42): few steps (typically 2–8) with a
/// model distilled for it (an LCM checkpoint or an LCM-LoRA).
///
/// Timesteps: the `original_inference_steps` (default 50) evenly spaced distillation timesteps
/// `k·i − 1` (k = num_train_timesteps / original_inference_steps), of which `steps` are taken at
/// evenly spaced indices from the top. `timestep_spacing` and `steps_offset` are accepted but,
/// as in diffusers, play no part.
///
/// Each step computes x0 from the model output (`epsilon`, `v_prediction` or `sample`),
/// optionally clipped (`clip_sample`, off by default), applies the consistency boundary
/// condition `denoised = c_out·x0 + c_skip·x` (c_skip = σ²/((10t)² + σ²), c_out =
/// 10t/√((10t)² + σ²), σ = 0.5, 10 = `timestep_scaling`), then re-noises to the next timestep
/// with fresh `randn` drawn from the random source exactly as diffusers draws it from its
/// generator. The last step returns `denoised` without noise. `predictedOriginal` is `denoised`
/// (what diffusers returns as the step's clean estimate and the final latent), not the raw x0.
///
/// Defaults as diffusers' own: scaled-linear betas 0.00085…0.012. `thresholding` and
/// `rescale_betas_zero_snr` are refused.
public struct LCMScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float = 1
    private let schedule: NoiseSchedule
    private let prediction: Prediction
    private let clipRange: Float?
    private let timestepScaling: Float

    /// What the model predicts; LCM also accepts `sample` (x0 directly).
    private enum Prediction: String {
        case epsilon
        case vPrediction = "v_prediction"
        case sample
    }

    /// Builds the scheduler for `steps` inference steps.
    public init(config: SchedulerConfig, steps: Int) throws {
        let name = "LCMScheduler"
        var shared = config
        shared.predictionType = nil
        var resolved = try ResolvedSchedulerConfig(shared, defaultSpacing: .leading, name: name)
        resolved.betaStart = config.betaStart ?? 0.00085
        resolved.betaEnd = config.betaEnd ?? 0.012
        resolved.betaSchedule = config.betaSchedule ?? "scaled_linear"
        try resolved.validate(steps: steps, name: name)
        let predictionName = config.predictionType ?? "epsilon"
        guard let prediction = Prediction(rawValue: predictionName) else {
            throw DiffusionError(.invalidConfig,
                "\(name): prediction_type \"\(predictionName)\" is not supported (epsilon, v_prediction, sample)")
        }
        self.prediction = prediction
        schedule = try NoiseSchedule(resolved)
        clipRange = (config.clipSample ?? false) ? Float(config.clipSampleRange ?? 1) : nil
        let scaling = config.timestepScaling ?? 10
        guard scaling.isFinite, scaling > 0 else {
            throw DiffusionError(.invalidConfig, "\(name): timestep_scaling must be a positive number, got \(scaling)")
        }
        timestepScaling = Float(scaling)
        timesteps = try Self.timesteps(
            steps: steps, original: config.originalInferenceSteps ?? 50, train: resolved.trainTimesteps, name: name)
    }

    /// diffusers' `set_timesteps(steps)` with strength 1.
    static func timesteps(steps: Int, original: Int, train: Int, name: String) throws -> [Float] {
        guard original >= 1, original <= train else {
            throw DiffusionError(.invalidConfig,
                "\(name): original_inference_steps \(original) must be 1...\(train) (num_train_timesteps)")
        }
        guard steps <= original else {
            throw DiffusionError(.invalidInput,
                "\(name): \(steps) inference steps requested; at most original_inference_steps (\(original))")
        }
        let k = train / original
        let descending = (1...original).reversed().map { $0 * k - 1 }
        // np.floor(np.linspace(0, original, steps, endpoint=False)): i · (original / steps).
        let stride = Double(original) / Double(steps)
        return (0..<steps).map { i in Float(descending[Int((Double(i) * stride).rounded(.down))]) }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<R: RandomSource>(
        modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout R
    ) -> SchedulerStepResult {
        precondition(timesteps.indices.contains(stepIndex), "LCMScheduler: step index \(stepIndex) out of range")
        let t = Int(timesteps[stepIndex])
        let isLast = stepIndex == timesteps.count - 1
        let previousT = isLast ? t : Int(timesteps[stepIndex + 1])
        let alphaProd = schedule.alphasCumprod[t]
        let alphaProdPrevious = schedule.alphasCumprod[previousT]
        let sqrtAlpha = alphaProd.squareRoot()
        let sqrtBeta = (1 - alphaProd).squareRoot()

        // Boundary condition in float32, as diffusers computes it from the timestep tensor.
        let sigmaData: Float = 0.5
        let scaled = Float(t) * timestepScaling
        let cSkip = sigmaData * sigmaData / (scaled * scaled + sigmaData * sigmaData)
        let cOut = scaled / (scaled * scaled + sigmaData * sigmaData).squareRoot()

        var original: Tensor
        switch prediction {
        case .epsilon:
            original = Elementwise.map(sample, modelOutput) { x, e in (x - sqrtBeta * e) / sqrtAlpha }
        case .vPrediction:
            original = Elementwise.map(sample, modelOutput) { x, v in sqrtAlpha * x - sqrtBeta * v }
        case .sample:
            original = modelOutput
        }
        if let range = clipRange {
            original = Elementwise.map(original) { min(max($0, -range), range) }
        }
        let denoised = Elementwise.map(original, sample) { x0, x in cOut * x0 + cSkip * x }
        guard !isLast else {
            return SchedulerStepResult(previousSample: denoised, predictedOriginal: denoised)
        }
        let noise = Tensor(shape: modelOutput.shape, scalars: random.normalArray(count: modelOutput.count))
        let sqrtAlphaPrevious = alphaProdPrevious.squareRoot()
        let sqrtBetaPrevious = (1 - alphaProdPrevious).squareRoot()
        let previous = Elementwise.map(denoised, noise) { d, n in sqrtAlphaPrevious * d + sqrtBetaPrevious * n }
        return SchedulerStepResult(previousSample: previous, predictedOriginal: denoised)
    }
}

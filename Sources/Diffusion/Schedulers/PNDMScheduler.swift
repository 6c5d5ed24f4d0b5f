import Tensor

/// Pseudo numerical methods for diffusion models in PLMS form (linear multistep), Stable
/// Diffusion's default sampler, matching diffusers' `schedulers/scheduling_pndm.py`
/// (`PNDMScheduler`, 0.42) with `skip_prk_steps: true` as SD v1.x ships it.
///
/// The first step is visited twice (a warm-up that averages two predictions), so
/// `timesteps.count == steps + 1`. The Runge–Kutta warm-up (`skip_prk_steps: false`) is not
/// implemented and is rejected with an error. `predictedOriginal` is the DDIM-style x0 estimate
/// from this step's model output at its timestep (diffusers' PNDM returns none).
public struct PNDMScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float = 1
    private let schedule: NoiseSchedule
    private let finalAlphaCumprod: Float
    private let stepRatio: Int
    private let prediction: PredictionType
    private var counter = 0
    private var history: [Tensor] = []
    private var warmupSample: Tensor?

    /// Builds the scheduler for `steps` inference steps.
    public init(config: SchedulerConfig, steps: Int) throws {
        let name = "PNDMScheduler"
        let resolved = try ResolvedSchedulerConfig(config, defaultSpacing: .leading, name: name)
        try resolved.validate(steps: steps, name: name)
        guard config.skipPrkSteps ?? false else {
            throw DiffusionError(.invalidConfig,
                "\(name): skip_prk_steps false (Runge-Kutta warm-up) is not supported; SD configs set it true")
        }
        schedule = try NoiseSchedule(resolved)
        finalAlphaCumprod = (config.setAlphaToOne ?? false) ? 1 : schedule.alphasCumprod[0]
        prediction = resolved.predictionType
        let train = resolved.trainTimesteps
        stepRatio = train / steps
        // Ascending, as diffusers' `_timesteps`.
        let ascending: [Int]
        switch resolved.spacing {
        case .linspace:
            ascending = NumPy.linspace(0, Double(train - 1), steps).map { Int(NumPy.round($0)) }
        case .leading:
            ascending = (0..<steps).map { $0 * (train / steps) + resolved.stepsOffset }
        case .trailing:
            ascending = NumPy.arange(Double(train), 0, -Double(train) / Double(steps)).reversed()
                .map { Int(NumPy.round($0)) - 1 }
        }
        guard ascending.allSatisfy({ (0..<train).contains($0) }) else {
            throw DiffusionError(.invalidConfig, "\(name): steps_offset \(resolved.stepsOffset) puts timesteps outside 0..<\(train)")
        }
        // PLMS order: all but the last, the second-to-last again, then the last; reversed.
        let plms = Array(ascending.dropLast()) + ascending.suffix(2).prefix(1) + ascending.suffix(1)
        timesteps = plms.reversed().map(Float.init)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<R: RandomSource>(
        modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout R
    ) -> SchedulerStepResult {
        precondition(stepIndex == counter, "PNDMScheduler: step \(stepIndex) called, expected \(counter) (steps run in order)")
        let scheduled = Int(timesteps[stepIndex])
        var timestep = scheduled
        var previousTimestep = timestep - stepRatio
        if counter != 1 {
            history = Array(history.suffix(3)) + [modelOutput]
        } else {
            previousTimestep = timestep
            timestep += stepRatio
        }

        var combined: Tensor
        var current = sample
        if history.count == 1 && counter == 0 {
            combined = modelOutput
            warmupSample = sample
        } else if history.count == 1 && counter == 1 {
            combined = Elementwise.map(modelOutput, history[0]) { m, e in (m + e) / 2 }
            current = warmupSample ?? sample
            warmupSample = nil
        } else if history.count == 2 {
            combined = Elementwise.map(history[1], history[0]) { e1, e2 in (3 * e1 - e2) / 2 }
        } else if history.count == 3 {
            combined = Elementwise.map(history[2], history[1], history[0]) { e1, e2, e3 in
                (23 * e1 - 16 * e2 + 5 * e3) / 12
            }
        } else {
            let e4 = history[0]
            let partial = Elementwise.map(history[3], history[2], history[1]) { e1, e2, e3 in
                55 * e1 - 59 * e2 + 37 * e3
            }
            combined = Elementwise.map(partial, e4) { p, e in Float(1.0 / 24.0) * (p - 9 * e) }
        }

        let previous = previousSample(current, timestep, previousTimestep, combined)
        counter += 1
        let original = predictedOriginal(sample: sample, modelOutput: modelOutput, timestep: scheduled)
        return SchedulerStepResult(previousSample: previous, predictedOriginal: original)
    }

    /// Formula (9) of the PNDM paper (`_get_prev_sample`).
    private func previousSample(_ sample: Tensor, _ timestep: Int, _ previousTimestep: Int, _ output: Tensor) -> Tensor {
        let alphaProd = schedule.alphasCumprod[timestep]
        let alphaProdPrevious = previousTimestep >= 0 ? schedule.alphasCumprod[previousTimestep] : finalAlphaCumprod
        let betaProd = 1 - alphaProd
        let betaProdPrevious = 1 - alphaProdPrevious
        var epsilon = output
        if prediction == .vPrediction {
            let a = alphaProd.squareRoot(), b = betaProd.squareRoot()
            epsilon = Elementwise.map(output, sample) { v, x in a * v + b * x }
        }
        let sampleCoefficient = (alphaProdPrevious / alphaProd).squareRoot()
        let denominator = alphaProd * betaProdPrevious.squareRoot() + (alphaProd * betaProd * alphaProdPrevious).squareRoot()
        let difference = alphaProdPrevious - alphaProd
        return Elementwise.map(sample, epsilon) { x, e in sampleCoefficient * x - difference * e / denominator }
    }

    /// x0 estimate from one prediction at `timestep`.
    private func predictedOriginal(sample: Tensor, modelOutput: Tensor, timestep: Int) -> Tensor {
        let alphaProd = schedule.alphasCumprod[timestep]
        let sqrtAlpha = alphaProd.squareRoot()
        let sqrtBeta = (1 - alphaProd).squareRoot()
        switch prediction {
        case .epsilon:
            return Elementwise.map(sample, modelOutput) { x, e in (x - sqrtBeta * e) / sqrtAlpha }
        case .vPrediction:
            return Elementwise.map(sample, modelOutput) { x, v in sqrtAlpha * x - sqrtBeta * v }
        }
    }
}

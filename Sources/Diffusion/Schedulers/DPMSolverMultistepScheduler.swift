import Foundation
import Tensor

/// DPM-Solver++(2M): the second-order multistep solver in data (x0) prediction, matching
/// diffusers' `schedulers/scheduling_dpmsolver_multistep.py` (`DPMSolverMultistepScheduler`,
/// 0.42) with `algorithm_type: dpmsolver++`, `solver_order: 2`.
///
/// Config: betas, `timestep_spacing` (default `linspace`), `steps_offset`, `prediction_type`,
/// `use_karras_sigmas`, `solver_type` (`midpoint` default, or `heun`), `lambda_min_clipped`. The
/// first and the final step are first order (final sigma zero, as diffusers' default).
/// SDE variants, order 1 or 3, and other sigma spacings are rejected with an error.
public struct DPMSolverMultistepScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float = 1
    private let sigmas: [Float]
    private let prediction: PredictionType
    private let heun: Bool
    private var previousOutput: Tensor?
    private var lowerOrderCount = 0
    private var nextIndex = 0

    /// Builds the scheduler for `steps` inference steps.
    public init(config: SchedulerConfig, steps: Int) throws {
        let name = "DPMSolverMultistepScheduler"
        let resolved = try ResolvedSchedulerConfig(config, defaultSpacing: .linspace, name: name)
        try resolved.validate(steps: steps, name: name)
        if let algorithm = config.algorithmType, algorithm != "dpmsolver++" {
            throw DiffusionError(.invalidConfig, "\(name): algorithm_type \"\(algorithm)\" is not supported (dpmsolver++)")
        }
        if let order = config.solverOrder, order != 2 {
            throw DiffusionError(.invalidConfig, "\(name): solver_order \(order) is not supported (2)")
        }
        let solver = config.solverType ?? "midpoint"
        guard solver == "midpoint" || solver == "heun" else {
            throw DiffusionError(.invalidConfig, "\(name): solver_type \"\(solver)\" is not supported (midpoint, heun)")
        }
        if let value = config.finalSigmasType, value != "zero" {
            throw DiffusionError(.invalidConfig, "\(name): final_sigmas_type \"\(value)\" is not supported (zero)")
        }
        if config.useExponentialSigmas == true || config.useBetaSigmas == true || config.useLuLambdas == true {
            throw DiffusionError(.invalidConfig, "\(name): exponential, beta and Lu sigmas are not supported")
        }
        if let variance = config.varianceType, variance.hasPrefix("learned") {
            throw DiffusionError(.invalidConfig, "\(name): variance_type \"\(variance)\" is not supported")
        }
        heun = solver == "heun"
        prediction = resolved.predictionType

        let schedule = try NoiseSchedule(resolved)
        let train = resolved.trainTimesteps
        // Timesteps whose λ = log α − log σ falls below `lambda_min_clipped` are cut off.
        let lambdaMin = config.lambdaMinClipped ?? -Double.infinity
        let lambdas = schedule.alphasCumprod.map { Foundation.log($0.squareRoot()) - Foundation.log((1 - $0).squareRoot()) }
        let clipped = lambdas.reversed().filter { Double($0) < lambdaMin }.count
        let lastTimestep = train - clipped

        var times: [Double]
        switch resolved.spacing {
        case .linspace:
            times = Array(NumPy.linspace(0, Double(lastTimestep - 1), steps + 1).map(NumPy.round).reversed().dropLast())
        case .leading:
            let ratio = lastTimestep / (steps + 1)
            times = Array((0...steps).reversed().dropLast().map { Double($0 * ratio + resolved.stepsOffset) })
        case .trailing:
            times = NumPy.arange(Double(lastTimestep), 0, -Double(train) / Double(steps)).map { NumPy.round($0) - 1 }
        }
        guard !times.isEmpty, times.allSatisfy({ $0 >= 0 && $0 <= Double(train - 1) }) else {
            throw DiffusionError(.invalidConfig, "\(name): timesteps fall outside 0..<\(train) (steps_offset, lambda_min_clipped)")
        }
        let trainSigmas = schedule.trainSigmas
        var stepSigmas: [Double]
        if config.useKarrasSigmas ?? false {
            stepSigmas = SigmaSchedule.karras(
                sigmaMin: Double(trainSigmas[0]), sigmaMax: Double(trainSigmas[train - 1]), count: steps)
            let logSigmas = SigmaSchedule.logSigmas(trainSigmas)
            times = stepSigmas.map { NumPy.round(SigmaSchedule.timestep(forSigma: $0, logSigmas: logSigmas)) }
        } else {
            stepSigmas = times.map { NumPy.interp($0, trainSigmas) }
        }
        timesteps = times.map { Float($0) }
        sigmas = stepSigmas.map { Float($0) } + [0]
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    /// α_t and σ_t of the data-prediction parametrisation for a Karras sigma.
    private static func alphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    private static func lambda(_ alpha: Float, _ sigma: Float) -> Float {
        Foundation.log(alpha) - Foundation.log(sigma)
    }

    public mutating func step<R: RandomSource>(
        modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout R
    ) -> SchedulerStepResult {
        precondition(stepIndex == nextIndex, "DPMSolverMultistepScheduler: step \(stepIndex) called, expected \(nextIndex) (steps run in order)")
        // With a final sigma of zero the last step is always first order (diffusers'
        // `lower_order_final` logic reduces to this for solver order 2).
        let finalIsLowerOrder = stepIndex == timesteps.count - 1

        // Convert the model output to an x0 prediction.
        let (alphaS0, sigmaS0) = Self.alphaSigma(sigmas[stepIndex])
        let original: Tensor
        switch prediction {
        case .epsilon:
            original = Elementwise.map(sample, modelOutput) { x, e in (x - sigmaS0 * e) / alphaS0 }
        case .vPrediction:
            original = Elementwise.map(sample, modelOutput) { x, v in alphaS0 * x - sigmaS0 * v }
        }

        let (alphaT, sigmaT) = Self.alphaSigma(sigmas[stepIndex + 1])
        let lambdaT = Self.lambda(alphaT, sigmaT)
        let lambdaS0 = Self.lambda(alphaS0, sigmaS0)
        let h = lambdaT - lambdaS0
        let previous: Tensor
        if lowerOrderCount < 1 || finalIsLowerOrder {
            // First order (DDIM-like) update.
            let sampleScale = sigmaT / sigmaS0
            let outputScale = alphaT * (Foundation.exp(-h) - 1.0)
            previous = Elementwise.map(sample, original) { x, d in sampleScale * x - outputScale * d }
        } else {
            guard let m1 = previousOutput else { preconditionFailure("DPMSolverMultistepScheduler: missing previous output") }
            let (alphaS1, sigmaS1) = Self.alphaSigma(sigmas[stepIndex - 1])
            let lambdaS1 = Self.lambda(alphaS1, sigmaS1)
            let h0 = lambdaS0 - lambdaS1
            let r0 = h0 / h
            let inverseR0 = 1.0 / r0
            let d1 = Elementwise.map(original, m1) { m0, m1 in inverseR0 * (m0 - m1) }
            let sampleScale = sigmaT / sigmaS0
            let d0Scale = alphaT * (Foundation.exp(-h) - 1.0)
            if heun {
                let d1Scale = alphaT * ((Foundation.exp(-h) - 1.0) / h + 1.0)
                previous = Elementwise.map(sample, original, d1) { x, d0, d1 in sampleScale * x - d0Scale * d0 + d1Scale * d1 }
            } else {
                let d1Scale = 0.5 * d0Scale
                previous = Elementwise.map(sample, original, d1) { x, d0, d1 in sampleScale * x - d0Scale * d0 - d1Scale * d1 }
            }
        }
        previousOutput = original
        if lowerOrderCount < 2 { lowerOrderCount += 1 }
        nextIndex += 1
        return SchedulerStepResult(previousSample: previous, predictedOriginal: original)
    }
}

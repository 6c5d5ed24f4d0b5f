import Tensor

/// Ancestral Euler sampling (each step moves down to σ_down, then adds fresh noise of size
/// σ_up), matching diffusers' `schedulers/scheduling_euler_ancestral_discrete.py`
/// (`EulerAncestralDiscreteScheduler`, 0.42).
///
/// Every step, including the last, draws `randn(sample.shape)` from the random source, as
/// diffusers draws from the pipeline's generator, so a seeded run reproduces diffusers.
/// Config as `EulerDiscreteScheduler` (no Karras sigmas in this scheduler).
public struct EulerAncestralDiscreteScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float
    private let table: EulerTable
    private let prediction: PredictionType

    /// Builds the scheduler for `steps` inference steps.
    public init(config: SchedulerConfig, steps: Int) throws {
        let name = "EulerAncestralDiscreteScheduler"
        let resolved = try ResolvedSchedulerConfig(config, defaultSpacing: .linspace, name: name)
        try resolved.validate(steps: steps, name: name)
        table = try EulerTable(resolved, steps: steps, karras: false, name: name)
        timesteps = table.timesteps
        initNoiseSigma = table.initNoiseSigma
        prediction = resolved.predictionType
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        Elementwise.map(sample) { table.scale($0, stepIndex: stepIndex) }
    }

    public mutating func step<R: RandomSource>(
        modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout R
    ) -> SchedulerStepResult {
        precondition(timesteps.indices.contains(stepIndex), "EulerAncestralDiscreteScheduler: step index \(stepIndex) out of range")
        let sigma = table.sigmas[stepIndex]
        let original: Tensor
        switch prediction {
        case .epsilon:
            original = Elementwise.map(sample, modelOutput) { x, e in x - sigma * e }
        case .vPrediction:
            let scale = -sigma / (sigma * sigma + 1).squareRoot()
            let denominator = sigma * sigma + 1
            original = Elementwise.map(modelOutput, sample) { v, x in v * scale + x / denominator }
        }
        let sigmaFrom = sigma
        let sigmaTo = table.sigmas[stepIndex + 1]
        let sigmaUp = ((sigmaTo * sigmaTo) * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom)).squareRoot()
        let sigmaDown = (sigmaTo * sigmaTo - sigmaUp * sigmaUp).squareRoot()
        let dt = sigmaDown - sigma
        let deterministic = Elementwise.map(sample, original) { x, x0 in x + ((x - x0) / sigma) * dt }
        let noise = Tensor(shape: sample.shape, scalars: random.normalArray(count: sample.count))
        let previous = Elementwise.map(deterministic, noise) { x, n in x + n * sigmaUp }
        return SchedulerStepResult(previousSample: previous, predictedOriginal: original)
    }
}

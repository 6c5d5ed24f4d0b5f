import Foundation
import Tensor
import Testing
@testable import Diffusion

/// The guidance plumbing with stand-in models whose outputs are easy to predict: the prompt
/// encoder maps prompt number k (in order of first use) to embeddings filled with k, and the
/// noise predictor returns, per batch item, the mean of its conditioning plus the timestep/1000.
private struct CountingPromptEncoder: PromptEncoder {
    let registry: PromptRegistry
    func encode(_ prompts: [String]) throws -> (embeddings: Tensor, truncations: [String]) {
        let values = prompts.flatMap { prompt in [Float](repeating: registry.value(for: prompt), count: 2 * 3) }
        return (Tensor(shape: [prompts.count, 2, 3], scalars: values), [])
    }
}

private final class PromptRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Float] = [:]
    func value(for prompt: String) -> Float {
        lock.lock(); defer { lock.unlock() }
        if let value = values[prompt] { return value }
        let value = Float(values.count + 1)
        values[prompt] = value
        return value
    }
}

private final class BatchRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var sizes: [Int] = []
    func record(_ size: Int) { lock.lock(); sizes.append(size); lock.unlock() }
    var batchSizes: [Int] { lock.lock(); defer { lock.unlock() }; return sizes }
}

private struct MeanPredictor: NoisePredictor {
    let recorder: BatchRecorder
    var latentChannels: Int { 4 }
    func predictNoise(_ sample: Tensor, timestep: Float, encoderHiddenStates: Tensor) throws -> Tensor {
        let batch = sample.shape[0]
        recorder.record(batch)
        let perItem = sample.count / batch
        let context = encoderHiddenStates.scalars
        let contextPerItem = context.count / batch
        var out: [Float] = []
        for b in 0..<batch {
            let mean = context[(b * contextPerItem)..<((b + 1) * contextPerItem)].reduce(0, +) / Float(contextPerItem)
            out += [Float](repeating: mean + timestep / 1000, count: perItem)
        }
        return Tensor(shape: sample.shape, scalars: out)
    }
}

/// Records what it sees and pushes the prediction toward its branch, only on even steps.
private struct RecordingTerm: GuidanceTerm {
    let log: TermLog
    var conditions: [GuidanceCondition] { [GuidanceCondition(name: "concept", source: .prompt("a concept"))] }
    func activeBranches(stepIndex: Int, timestep: Float) -> [String] { stepIndex % 2 == 0 ? ["concept"] : [] }
    mutating func apply(_ step: GuidanceStep, to noisePrediction: inout Tensor) throws {
        log.append(step)
        if let concept = step.branches["concept"] {
            noisePrediction = noisePrediction - (concept - step.conditional) * 0.5
        }
    }
}

private final class TermLog: @unchecked Sendable {
    private let lock = NSLock()
    private var steps: [GuidanceStep] = []
    func append(_ step: GuidanceStep) { lock.lock(); steps.append(step); lock.unlock() }
    var all: [GuidanceStep] { lock.lock(); defer { lock.unlock() }; return steps }
}

@Suite("Pipeline guidance terms")
struct PipelineGuidanceTests {
    private func pipeline(_ recorder: BatchRecorder, _ registry: PromptRegistry) -> StableDiffusionPipeline {
        var config = SchedulerConfig.stableDiffusionV1
        config.className = "DDIMScheduler"
        return StableDiffusionPipeline(
            promptEncoder: CountingPromptEncoder(registry: registry), noisePredictor: MeanPredictor(recorder: recorder),
            decoder: ZeroDecoder(), schedulerConfig: config)
    }

    @Test("batch order is [negative, prompt, extra branches] and terms see each branch")
    func branches() throws {
        let recorder = BatchRecorder(), registry = PromptRegistry(), log = TermLog()
        var configuration = StableDiffusionPipeline.Configuration(prompt: "the prompt")
        configuration.negativePrompt = "the negative"
        configuration.width = 16
        configuration.height = 16
        configuration.steps = 4
        configuration.guidanceScale = 3
        _ = try pipeline(recorder, registry).generate(configuration, terms: [RecordingTerm(log: log)])

        // Prompts are encoded in one batch: negative (1), prompt (2), branch prompt (3).
        #expect(registry.value(for: "the negative") == 1)
        #expect(registry.value(for: "the prompt") == 2)
        #expect(registry.value(for: "a concept") == 3)
        // The concept branch joins the UNet batch on even steps only.
        #expect(recorder.batchSizes == [3, 2, 3, 2])
        let steps = log.all
        #expect(steps.count == 4)
        for step in steps {
            let t = step.timestep / 1000
            #expect(step.unconditional?.scalars.allSatisfy { abs($0 - (1 + t)) < 1e-6 } == true)
            #expect(step.conditional.scalars.allSatisfy { abs($0 - (2 + t)) < 1e-6 })
            if step.stepIndex % 2 == 0 {
                #expect(step.branches["concept"]?.scalars.allSatisfy { abs($0 - (3 + t)) < 1e-6 } == true)
            } else {
                #expect(step.branches.isEmpty)
            }
        }
    }

    @Test("without classifier-free guidance only the prompt is evaluated")
    func noGuidance() throws {
        let recorder = BatchRecorder(), registry = PromptRegistry()
        var configuration = StableDiffusionPipeline.Configuration(prompt: "only this")
        configuration.width = 16
        configuration.height = 16
        configuration.steps = 3
        configuration.guidanceScale = 1
        _ = try pipeline(recorder, registry).generate(configuration)
        #expect(recorder.batchSizes == [1, 1, 1])
    }

    @Test("classifier-free guidance and rescale follow diffusers' formulas")
    func cfgFormulas() {
        let u = Tensor(shape: [1, 1, 2, 2], scalars: [0.1, -0.2, 0.3, 0.4])
        let c = Tensor(shape: [1, 1, 2, 2], scalars: [0.5, 0.1, -0.3, 0.2])
        let guided = ClassifierFreeGuidance.combine(unconditional: u, conditional: c, scale: 7.5)
        let expected = zip(u.scalars, c.scalars).map { $0 + 7.5 * ($1 - $0) }
        #expect(guided.scalars == expected)
        // torch: std (unbiased) per item; rescaled = g * std(c)/std(g); φ·rescaled + (1 − φ)·g.
        func std(_ v: [Float]) -> Double {
            let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
            return (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count - 1)).squareRoot()
        }
        let ratio = std(c.scalars) / std(guided.scalars)
        let rescaled = ClassifierFreeGuidance.rescale(guided, conditional: c, phi: 0.7)
        for (r, g) in zip(rescaled.scalars, guided.scalars) {
            #expect(abs(Double(r) - (0.7 * Double(g) * ratio + 0.3 * Double(g))) < 1e-6)
        }
    }

    @Test("duplicate branch names are rejected")
    func duplicateNames() {
        let log = TermLog()
        var configuration = StableDiffusionPipeline.Configuration(prompt: "p")
        configuration.width = 16
        configuration.height = 16
        #expect(throws: DiffusionError.self) {
            try pipeline(BatchRecorder(), PromptRegistry()).validate(configuration, terms: [RecordingTerm(log: log), RecordingTerm(log: log)])
        }
    }
}

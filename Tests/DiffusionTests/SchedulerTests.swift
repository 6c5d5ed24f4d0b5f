import Foundation
import Tensor
import Testing
@testable import Diffusion
import TestSupport

/// Scheduler parity with diffusers 0.42.1: `Tests/Fixtures/schedulers/cases.json`, written by
/// `ops/reference/make_scheduler_fixtures.py`. Each case runs a full loop on a fixed latent with
/// fixed model outputs; ancestral noise comes from a seeded generator on both sides.
/// Tolerance: max |ours − diffusers| ≤ 1e-5 × max |diffusers| (relative to the output scale).
struct SchedulerCase: Decodable, Sendable, CustomTestStringConvertible {
    struct Step: Decodable, Sendable {
        var scaledInput: [Float]
        var prevSample: [Float]
        var predictedX0: [Float]

        enum CodingKeys: String, CodingKey {
            case scaledInput = "scaled_input", prevSample = "prev_sample", predictedX0 = "predicted_x0"
        }
    }

    var name: String
    var target: String
    var steps: Int
    var config: SchedulerConfig
    var timesteps: [Double]
    var initNoiseSigma: Float
    var alphasCumprodChecks: [String: Float]
    var shape: [Int]
    var latent: [Float]
    var modelOutputs: [[Float]]
    var noiseSeed: UInt64
    var stepResults: [Step]

    var testDescription: String { name }

    // Explicit keys: `SchedulerConfig` has its own snake_case keys, so no key strategy is used.
    enum CodingKeys: String, CodingKey {
        case name, target, steps, config, timesteps, shape, latent
        case initNoiseSigma = "init_noise_sigma"
        case alphasCumprodChecks = "alphas_cumprod_checks"
        case modelOutputs = "model_outputs"
        case noiseSeed = "noise_seed"
        case stepResults = "step_results"
    }
}

private struct SchedulerFixture: Decodable {
    var cases: [SchedulerCase]
}

private func fixturesDirectory() -> URL {
    TestPaths.fixture("schedulers")
}

private func loadCases() throws -> [SchedulerCase] {
    let url = fixturesDirectory().appendingPathComponent("cases.json")
    let data = try Data(contentsOf: url)
    return try JSONDecoder().decode(SchedulerFixture.self, from: data).cases
}

/// Loading errors surface in `fixturesLoad`; the parameterised tests then have no cases.
private let loadedCases = Result { try loadCases() }
private let schedulerCases = (try? loadedCases.get()) ?? []

/// max |a − b| / max(max |reference|, tiny).
func maxRelativeError(_ actual: [Float], _ reference: [Float]) -> Float {
    precondition(actual.count == reference.count, "length \(actual.count) vs \(reference.count)")
    var maxDiff: Float = 0, scale: Float = 0
    for (a, r) in zip(actual, reference) {
        maxDiff = max(maxDiff, abs(a - r))
        scale = max(scale, abs(r))
    }
    if maxDiff.isNaN { return .infinity }
    return maxDiff / max(scale, 1e-12)
}

@Suite("Schedulers vs diffusers")
struct SchedulerTests {
    @Test("the fixture file is present and complete")
    func fixturesLoad() throws {
        _ = try loadedCases.get()
        #expect(schedulerCases.count >= 20)
        #expect(Set(schedulerCases.map(\.target)) == Set(SchedulerKind.allCases.map(\.rawValue)))
    }

    @Test("timesteps, init sigma and every step match diffusers", arguments: schedulerCases)
    func matchesDiffusers(testCase: SchedulerCase) throws {
        let kind = try #require(SchedulerKind(rawValue: testCase.target))
        var scheduler = try kind.make(config: testCase.config, steps: testCase.steps)
        #expect(scheduler.timesteps.map(Double.init).count == testCase.timesteps.count)
        for (ours, theirs) in zip(scheduler.timesteps, testCase.timesteps) {
            #expect(abs(Double(ours) - theirs) <= 1e-5 * max(1, abs(theirs)), "timesteps \(scheduler.timesteps) vs \(testCase.timesteps)")
        }
        #expect(abs(scheduler.initNoiseSigma - testCase.initNoiseSigma) <= 1e-6 * testCase.initNoiseSigma)

        var random = TorchRandomSource(seed: testCase.noiseSeed)
        var sample = Tensor(shape: testCase.shape, scalars: testCase.latent.map { $0 * scheduler.initNoiseSigma })
        for (index, reference) in testCase.stepResults.enumerated() {
            let scaled = scheduler.scaleModelInput(sample, stepIndex: index)
            #expect(maxRelativeError(scaled.scalars, reference.scaledInput) <= 1e-5, "step \(index) scaled input")
            let output = Tensor(shape: testCase.shape, scalars: testCase.modelOutputs[index])
            let result = scheduler.step(modelOutput: output, stepIndex: index, sample: sample, random: &random)
            let prevError = maxRelativeError(result.previousSample.scalars, reference.prevSample)
            let x0Error = maxRelativeError(result.predictedOriginal.scalars, reference.predictedX0)
            #expect(prevError <= 1e-5, "step \(index) prev_sample relative error \(prevError)")
            #expect(x0Error <= 1e-5, "step \(index) predicted x0 relative error \(x0Error)")
            sample = result.previousSample
        }
    }

    @Test("cumulative alphas match torch", arguments: schedulerCases.prefix(1) + schedulerCases.filter { $0.name.contains("linear-v") })
    func alphasCumprod(testCase: SchedulerCase) throws {
        let resolved = try ResolvedSchedulerConfig(testCase.config, defaultSpacing: .leading, name: "test")
        let schedule = try NoiseSchedule(resolved)
        for (key, value) in testCase.alphasCumprodChecks {
            let index = try #require(Int(key))
            #expect(abs(schedule.alphasCumprod[index] - value) <= 1e-6 * value, "alphas_cumprod[\(index)]")
        }
    }

    @Test("unsupported configs are clear errors")
    func rejectsUnsupported() {
        var config = SchedulerConfig.stableDiffusionV1
        config.betaSchedule = "squaredcos_cap_v2"
        #expect(throws: DiffusionError.self) { try DDIMScheduler(config: config, steps: 10) }
        config = .stableDiffusionV1
        config.predictionType = "sample"
        #expect(throws: DiffusionError.self) { try EulerDiscreteScheduler(config: config, steps: 10) }
        config = .stableDiffusionV1
        config.skipPrkSteps = false
        #expect(throws: DiffusionError.self) { try PNDMScheduler(config: config, steps: 10) }
        config = .stableDiffusionV1
        config.algorithmType = "sde-dpmsolver++"
        #expect(throws: DiffusionError.self) { try DPMSolverMultistepScheduler(config: config, steps: 10) }
        #expect(throws: DiffusionError.self) { try DDIMScheduler(config: .stableDiffusionV1, steps: 0) }
        #expect(throws: DiffusionError.self) { try DDIMScheduler(config: .stableDiffusionV1, steps: 1001) }
    }

    @Test("LCM refuses what it does not implement and impossible step counts")
    func lcmRejects() throws {
        var config = SchedulerConfig.stableDiffusionV1
        config.thresholding = true
        #expect(throws: DiffusionError.self) { try LCMScheduler(config: config, steps: 4) }
        config = .stableDiffusionV1
        config.predictionType = "flow"
        #expect(throws: DiffusionError.self) { try LCMScheduler(config: config, steps: 4) }
        config = .stableDiffusionV1
        config.originalInferenceSteps = 2000
        #expect(throws: DiffusionError.self) { try LCMScheduler(config: config, steps: 4) }
        config = .stableDiffusionV1
        config.originalInferenceSteps = 6
        #expect(throws: DiffusionError.self) { try LCMScheduler(config: config, steps: 7) }
        #expect(try LCMScheduler(config: config, steps: 6).timesteps.count == 6)
        config = .stableDiffusionV1
        config.timestepScaling = 0
        #expect(throws: DiffusionError.self) { try LCMScheduler(config: config, steps: 4) }
        #expect(throws: DiffusionError.self) { try LCMScheduler(config: .stableDiffusionV1, steps: 0) }
    }

    @Test("scheduler names parse")
    func names() {
        #expect(SchedulerKind(name: "euler-a") == .eulerAncestralDiscrete)
        #expect(SchedulerKind(name: "PNDMScheduler") == .pndm)
        #expect(SchedulerKind(name: "dpm++2m") == .dpmSolverMultistep)
        #expect(SchedulerKind(name: "lcm") == .lcm)
        #expect(SchedulerKind(name: "LCMScheduler") == .lcm)
        #expect(SchedulerKind(name: "heun") == nil)
    }
}

import Foundation
import Testing
import Diffusion
import Tensor
@testable import Guidance
import TestSupport

/// Attribute switching has no packaged reference; its defining invariants are checked on the
/// tiny model with fixed latents: τ = 0 is the pipeline with the first prompt, τ = 1000 the
/// pipeline with the second, and a τ inside the schedule is neither.
@Suite struct AttributeSwitchingPipelineTests {
    static let model = TestPaths.fixture("tiny-sd")

    func run(_ pipeline: StableDiffusionPipeline, prompt: String, promptSwitch: StableDiffusionPipeline.PromptSwitch?) throws -> [UInt8] {
        var configuration = StableDiffusionPipeline.Configuration(prompt: prompt)
        configuration.width = 32
        configuration.height = 32
        configuration.steps = 8
        configuration.seed = 99
        configuration.scheduler = .ddim
        configuration.promptSwitch = promptSwitch
        return try pipeline.generate(configuration).image.bytes
    }

    @Test func switchingInvariants() throws {
        let pipeline = try StableDiffusionPipeline.load(folder: Self.model)
        let man = "a color photo of the man", woman = "a color photo of the woman"
        let plainMan = try run(pipeline, prompt: man, promptSwitch: nil)
        let plainWoman = try run(pipeline, prompt: woman, promptSwitch: nil)
        // Encoding one more prompt in the text-encoder batch may move a pixel by one level.
        func distance(_ a: [UInt8], _ b: [UInt8]) -> Int { zip(a, b).map { abs(Int($0) - Int($1)) }.max()! }
        #expect(distance(plainMan, plainWoman) > 8)
        #expect(distance(try run(pipeline, prompt: man, promptSwitch: .init(prompt: woman, tau: 0)), plainMan) <= 1)
        #expect(distance(try run(pipeline, prompt: man, promptSwitch: .init(prompt: woman, tau: 1000)), plainWoman) <= 1)
        let middle = try run(pipeline, prompt: man, promptSwitch: .init(prompt: woman, tau: 500))
        #expect(distance(middle, plainMan) > 1 && distance(middle, plainWoman) > 1)
    }

    /// The τ search's recorder leaves the image as it is and sees one guided prediction per step.
    @Test func recordingTheNoisePredictionsChangesNothing() throws {
        let pipeline = try StableDiffusionPipeline.load(folder: Self.model)
        var configuration = StableDiffusionPipeline.Configuration(prompt: "a color photo of the man")
        configuration.width = 32
        configuration.height = 32
        configuration.steps = 4
        configuration.seed = 5
        configuration.scheduler = .ddim
        let plain = try pipeline.generate(configuration)
        let recorder = TauSearch.Recorder()
        let recorded = try pipeline.generate(configuration, terms: [recorder])
        #expect(recorded.image.bytes == plain.image.bytes)
        let steps = recorder.recorded
        #expect(steps.timesteps == plain.timesteps)
        #expect(steps.predictions.count == plain.timesteps.count)
        #expect(steps.predictions.allSatisfy { $0.count == pipeline.latentShape(configuration).reduce(1, *) })
        #expect(Set(steps.predictions.map { $0 }).count == steps.predictions.count)
    }

    @Test func switchBoundaryIsStrict() {
        let s = StableDiffusionPipeline.PromptSwitch(prompt: "b", tau: 501)
        #expect(s.isActive(atTimestep: 500))
        #expect(!s.isActive(atTimestep: 501))
    }
}

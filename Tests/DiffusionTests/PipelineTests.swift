import Foundation
import Tensor
import Testing
@testable import Diffusion
import TestSupport

/// Full-pipeline parity with diffusers 0.42.1 `StableDiffusionPipeline` on the tiny random-init
/// model (`Tests/Fixtures/tiny-sd`), from `Tests/Fixtures/pipeline/runs.json`, written by
/// `ops/reference/make_pipeline_fixtures.py`: CFG on, PNDM / DDIM from given latents, Euler
/// ancestral / DPM-Solver++ from a seed (PyTorch-compatible noise), one run with
/// guidance_rescale. Tolerances: latents after every step within 1e-4 × max |diffusers| (about
/// 1e-5 measured); final 8-bit image max abs diff ≤ 1 (a few pixels differ by 1 when a value
/// sits at a rounding boundary).
struct PipelineRun: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var scheduler: String
    var steps: Int
    var guidanceScale: Float
    var guidanceRescale: Float
    var seed: UInt64?
    var prompt: String
    var negativePrompt: String
    var width: Int
    var height: Int
    var latents: [Float]?
    var timesteps: [Float]
    var stepLatents: [[Float]]
    var imageFile: String

    var testDescription: String { name }
}

private struct PipelineFixture: Decodable { var runs: [PipelineRun] }

let pipelineFixturesRoot = TestPaths.fixtures

private let loadedRuns = Result {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let data = try Data(contentsOf: pipelineFixturesRoot.appendingPathComponent("pipeline/runs.json"))
    return try decoder.decode(PipelineFixture.self, from: data).runs
}
private let pipelineRuns = (try? loadedRuns.get()) ?? []

/// Stands in for the VAE where only the sampling loop is under test.
struct ZeroDecoder: LatentDecoder {
    var scalingFactor: Float = 0.18215
    var downscaleFactor: Int = 8
    func decode(_ latents: Tensor) throws -> Tensor {
        Tensor.zeros([1, 3, latents.shape[2] * downscaleFactor, latents.shape[3] * downscaleFactor])
    }
}

func tinyModelFolder() -> URL { pipelineFixturesRoot.appendingPathComponent("tiny-sd") }

func loadTinyComponents() throws -> (any PromptEncoder, UNet2DConditionModel, SchedulerConfig) {
    let folder = try StableDiffusionModelFolder(url: tinyModelFolder())
    let encoder = CLIPPromptEncoder(
        tokenizer: try CLIPTokenizer(folder: folder.tokenizer),
        textModel: try CLIPTextModel(folder: folder.textEncoder))
    return (encoder, try UNet2DConditionModel.load(directory: folder.unet), try folder.schedulerConfig())
}

func pipelineConfiguration(for run: PipelineRun) throws -> StableDiffusionPipeline.Configuration {
    var configuration = StableDiffusionPipeline.Configuration(prompt: run.prompt)
    configuration.negativePrompt = run.negativePrompt
    configuration.width = run.width
    configuration.height = run.height
    configuration.steps = run.steps
    configuration.guidanceScale = run.guidanceScale
    configuration.guidanceRescale = run.guidanceRescale
    configuration.scheduler = SchedulerKind(rawValue: run.scheduler)
    #expect(configuration.scheduler != nil, "unknown scheduler \(run.scheduler)")
    if let seed = run.seed { configuration.seed = seed }
    if let latents = run.latents {
        configuration.latents = Tensor(shape: [1, 4, run.height / 8, run.width / 8], scalars: latents)
    }
    return configuration
}

@Suite("Pipeline")
struct PipelineTests {
    @Test("fixtures load")
    func fixturesLoad() throws {
        _ = try loadedRuns.get()
        #expect(pipelineRuns.count >= 3)
    }

    @Test("latents after every step match diffusers", arguments: pipelineRuns)
    func stepLatents(run: PipelineRun) throws {
        let (encoder, unet, schedulerConfig) = try loadTinyComponents()
        let pipeline = StableDiffusionPipeline(
            promptEncoder: encoder, noisePredictor: unet, decoder: ZeroDecoder(), schedulerConfig: schedulerConfig)
        var recorded: [[Float]] = []
        let result = try pipeline.generate(try pipelineConfiguration(for: run)) { progress in
            recorded.append(progress.latents.scalars)
            return true
        }
        #expect(result.timesteps == run.timesteps)
        #expect(recorded.count == run.stepLatents.count)
        for (index, (ours, theirs)) in zip(recorded, run.stepLatents).enumerated() {
            let error = maxRelativeError(ours, theirs)
            #expect(error <= 1e-4, "step \(index): relative error \(error)")
        }
    }

    @Test("the final 8-bit image matches diffusers within 1/255", arguments: pipelineRuns)
    func finalImage(run: PipelineRun) throws {
        let pipeline = try StableDiffusionPipeline.load(folder: tinyModelFolder())
        let result = try pipeline.generate(try pipelineConfiguration(for: run))
        let reference = [UInt8](try Data(contentsOf: pipelineFixturesRoot.appendingPathComponent("pipeline/\(run.imageFile)")))
        #expect(result.image.width == run.width && result.image.height == run.height && result.image.channels == 3)
        #expect(result.image.bytes.count == reference.count)
        let maxDiff = zip(result.image.bytes, reference).map { abs(Int($0) - Int($1)) }.max() ?? 255
        #expect(maxDiff <= 1, "max abs diff \(maxDiff)/255")
        // The encoded PNG decodes back to the same pixels.
        #expect(try PNG.decode(try PNG.encode(result.image)) == result.image)
    }

    @Test("the progress callback can cancel")
    func cancel() throws {
        let (encoder, unet, schedulerConfig) = try loadTinyComponents()
        let pipeline = StableDiffusionPipeline(
            promptEncoder: encoder, noisePredictor: unet, decoder: ZeroDecoder(), schedulerConfig: schedulerConfig)
        var configuration = StableDiffusionPipeline.Configuration(prompt: "a cat")
        configuration.width = 64
        configuration.height = 64
        configuration.steps = 5
        var calls = 0
        let error = #expect(throws: DiffusionError.self) {
            _ = try pipeline.generate(configuration) { _ in calls += 1; return calls < 2 }
        }
        #expect(error?.code == .cancelled)
        #expect(calls == 2)
    }

    @Test("bad sizes and latents are clear errors")
    func rejectsBadInput() throws {
        let (encoder, unet, schedulerConfig) = try loadTinyComponents()
        let pipeline = StableDiffusionPipeline(
            promptEncoder: encoder, noisePredictor: unet, decoder: ZeroDecoder(), schedulerConfig: schedulerConfig)
        var configuration = StableDiffusionPipeline.Configuration(prompt: "a cat")
        configuration.width = 60
        configuration.height = 64
        #expect(throws: DiffusionError.self) { try pipeline.validate(configuration) }
        configuration.width = 64
        configuration.latents = Tensor.zeros([1, 4, 4, 4])
        #expect(throws: DiffusionError.self) { try pipeline.validate(configuration) }
        configuration.latents = nil
        configuration.guidanceRescale = 2
        #expect(throws: DiffusionError.self) { try pipeline.validate(configuration) }
    }
}

@Suite("Model folder")
struct ModelFolderTests {
    /// Copies the tiny model file by file into a fresh temporary folder so a test can break
    /// the copy (never the fixture: no symlinks are copied, every file is a new file).
    private func scratchCopy() throws -> URL {
        let target = TestPaths.scratchFolder("chaperone-model")
        try TestPaths.copyFiles(of: tinyModelFolder(), to: target)
        return target
    }

    @Test("the tiny model folder is accepted")
    func accepts() throws {
        let folder = try StableDiffusionModelFolder(url: tinyModelFolder())
        #expect(folder.pipelineClass == "StableDiffusionPipeline")
        #expect(folder.components["unet"] == ["diffusers", "UNet2DConditionModel"])
        #expect(folder.safetyChecker == nil)
        #expect(try folder.schedulerConfig().className == "PNDMScheduler")
    }

    /// The published SD v1.5 repository's layout: a model index listing a safety checker and
    /// feature extractor, extra weight variants (fp16, non-EMA, .bin) beside the main files,
    /// and the scheduler config as SD ships it (no timestep_spacing).
    @Test("a folder laid out like the published SD v1.5 repository loads")
    func publishedLayout() throws {
        let copy = try scratchCopy()
        defer { try? FileManager.default.removeItem(at: copy) }
        let index = """
            {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.6.0",
             "feature_extractor": ["transformers", "CLIPImageProcessor"],
             "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
             "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}
            """
        try index.write(to: copy.appendingPathComponent("model_index.json"), atomically: true, encoding: .utf8)
        let scheduler = """
            {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
             "clip_sample": false}
            """
        try scheduler.write(to: copy.appendingPathComponent("scheduler/scheduler_config.json"), atomically: true, encoding: .utf8)
        let fm = FileManager.default
        try fm.createDirectory(at: copy.appendingPathComponent("safety_checker"), withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: copy.appendingPathComponent("safety_checker/config.json"))
        try fm.createDirectory(at: copy.appendingPathComponent("feature_extractor"), withIntermediateDirectories: true)
        let unetWeights = copy.appendingPathComponent("unet/diffusion_pytorch_model.safetensors")
        for variant in ["diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.non_ema.safetensors"] {
            try fm.copyItem(at: unetWeights, to: copy.appendingPathComponent("unet/\(variant)"))
        }
        try Data([0x80, 0x02]).write(to: copy.appendingPathComponent("unet/diffusion_pytorch_model.bin"))

        let folder = try StableDiffusionModelFolder(url: copy)
        #expect(folder.safetyChecker != nil)
        let pipeline = try StableDiffusionPipeline.load(folder: copy)
        let scheduler0 = try pipeline.makeScheduler(nil, steps: 4)
        #expect(scheduler0.timesteps == [751, 501, 501, 251, 1])
    }

    @Test("a missing file is an error naming it", arguments: StableDiffusionModelFolder.requiredFiles)
    func missingFile(file: String) throws {
        let copy = try scratchCopy()
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.removeItem(at: copy.appendingPathComponent(file))
        let error = #expect(throws: DiffusionError.self) { try StableDiffusionModelFolder(url: copy) }
        #expect(error?.message.contains(file) == true)
    }

    @Test("a wrong component class or malformed index is an error naming the file")
    func wrongIndex() throws {
        let copy = try scratchCopy()
        defer { try? FileManager.default.removeItem(at: copy) }
        let index = copy.appendingPathComponent("model_index.json")
        let text = try String(contentsOf: index, encoding: .utf8)
        try text.replacingOccurrences(of: "AutoencoderKL", with: "VQModel").write(to: index, atomically: true, encoding: .utf8)
        let wrongClass = #expect(throws: DiffusionError.self) { try StableDiffusionModelFolder(url: copy) }
        #expect(wrongClass?.message.contains("model_index.json") == true)
        try "{ not json".write(to: index, atomically: true, encoding: .utf8)
        let malformed = #expect(throws: DiffusionError.self) { try StableDiffusionModelFolder(url: copy) }
        #expect(malformed?.message.contains("model_index.json") == true)
    }
}

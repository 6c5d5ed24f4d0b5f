import ArgumentParser
import Contracts
import Diffusion
import Foundation
import Guidance
import Tensor

/// `chaperone bench mitigations`: the per-step cost of each mitigation, measured on the same
/// pipeline in one run. Every guidance mitigation adds UNet branches (SLD one, SEGA one per
/// edit); SafeGen changes weights only and costs nothing per step.
struct BenchMitigations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mitigations",
        abstract: "Measure seconds per sampling step with each mitigation (plain CFG, SLD, SEGA, Fair Diffusion); print JSON."
    )

    @Option(help: "A diffusers model folder; default: the SD-1.5 UNet architecture with random weights and random text embeddings.")
    var model: String?

    @Option(help: "Image width and height (a multiple of 8).")
    var size: Int = 256

    @Option(help: "Sampling steps timed per mitigation.")
    var steps: Int = 4

    @Option(help: "Threads for the kernels and OpenBLAS (default: OpenBLAS's own count).")
    var threads: Int?

    func validate() throws {
        if size < 8 || size % 8 != 0 { throw ValidationError("--size must be a positive multiple of 8") }
        if steps < 2 { throw ValidationError("--steps must be at least 2 (the first step includes text encoding)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    struct Case: Codable {
        var mitigation: String
        var unetBatchPerStep: Int
        var secondsPerStep: Double
        var relativeToCFG: Double
    }

    struct Result: Codable {
        var benchmark = "mitigations"
        var model: String
        var imageSize: Int
        var steps: Int
        var threads: Int
        var machine: BenchMachine
        var cases: [Case]
    }

    /// Text embeddings of the right width without a tokenizer: for architecture benchmarks.
    struct RandomPromptEncoder: PromptEncoder {
        var width: Int
        func encode(_ prompts: [String]) throws -> (embeddings: Tensor, truncations: [String]) {
            let count = prompts.count * 77 * width
            let values = (0..<count).map { Float(($0 * 2_654_435_761) % 1000) / 1000 - 0.5 }
            return (Tensor(shape: [prompts.count, 77, width], scalars: values), [])
        }
    }

    /// Skips the VAE: only the sampling loop is measured.
    struct NullDecoder: LatentDecoder {
        var scalingFactor: Float = 0.18215
        var downscaleFactor: Int = 8
        func decode(_ latents: Tensor) throws -> Tensor {
            Tensor.zeros([1, 3, latents.shape[2] * 8, latents.shape[3] * 8])
        }
    }

    func run() async throws {
        if let threads { TensorThreads.setCount(threads) }
        let pipeline: StableDiffusionPipeline
        let modelName: String
        if let model {
            let loaded = try StableDiffusionPipeline.load(folder: URL(fileURLWithPath: model))
            pipeline = StableDiffusionPipeline(
                promptEncoder: loaded.promptEncoder, noisePredictor: loaded.noisePredictor,
                decoder: NullDecoder(), schedulerConfig: loaded.schedulerConfig)
            modelName = model
        } else {
            let unet = try UNet2DConditionModel(config: .stableDiffusion15, randomSeed: 1)
            pipeline = StableDiffusionPipeline(
                promptEncoder: RandomPromptEncoder(width: 768), noisePredictor: unet, decoder: NullDecoder(),
                schedulerConfig: SchedulerConfig.stableDiffusionV1)
            modelName = "sd1.5 UNet architecture, random weights"
        }

        // Each case as a request would carry it, through the worker's translation into terms.
        let sld = SafetyGuidance(preset: .max)  // warm-up 0: the branch runs every step
        let segaEdits = [
            SemanticEdit(concept: "a hat", warmupSteps: 0),
            SemanticEdit(concept: "a scarf", reverse: true, warmupSteps: 0),
        ]
        let fair = FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5])
        func guidance(_ mitigations: Mitigations) throws -> MitigationGuidance {
            try MitigationGuidance(
                mitigations, seed: 7, guidanceScale: 7.5, families: .standard, defaultSwitchTau: AttributeSwitch.defaultTau)
        }
        let fairGuidance = try guidance(Mitigations(fairness: fair))
        let cases: [(String, Int, MitigationGuidance)] = [
            ("cfg", 2, try guidance(Mitigations())),
            ("sld", 3, try guidance(Mitigations(safetyGuidance: sld))),
            ("sega-2-edits", 4, try guidance(Mitigations(semanticEdits: segaEdits))),
            ("fair-diffusion", 2 + (fairGuidance.applied.fairness?.edits.count ?? 0), fairGuidance),
            ("sld+sega", 5, try guidance(Mitigations(safetyGuidance: sld, semanticEdits: segaEdits))),
        ]
        var results: [Case] = []
        var cfgSeconds = 0.0
        for (name, batch, guidance) in cases {
            var configuration = StableDiffusionPipeline.Configuration(prompt: "a photo of a person")
            configuration.width = size
            configuration.height = size
            configuration.steps = steps
            configuration.scheduler = .ddim
            var stamps: [ContinuousClock.Instant] = []
            _ = try pipeline.generate(configuration, terms: guidance.terms) { _ in
                stamps.append(.now)
                return true
            }
            // Step 1 onwards: the first step also encodes the prompts.
            let durations = zip(stamps.dropFirst(), stamps).map { later, earlier in
                let d = later - earlier
                return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            }
            let perStep = durations.sorted()[durations.count / 2]
            if name == "cfg" { cfgSeconds = perStep }
            results.append(Case(
                mitigation: name, unetBatchPerStep: batch, secondsPerStep: perStep,
                relativeToCFG: cfgSeconds > 0 ? perStep / cfgSeconds : 1))
        }
        try printBenchJSON(Result(
            model: modelName, imageSize: size, steps: steps, threads: threads ?? TensorThreads.count,
            machine: .current(), cases: results))
    }
}

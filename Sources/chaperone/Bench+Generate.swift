import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `chaperone bench generate`: one whole Stable Diffusion 1.5 generation, 512×512 and 20 DDIM
/// steps with classifier-free guidance by default: text encoder, UNet at batch 2 every step, VAE
/// decode and 8-bit conversion, all with seeded random weights built in memory. Reports seconds
/// per image, peak RSS against the float32 weight bytes, and the time per kernel category.
/// Prints one JSON object; `ops/bench/peers` runs diffusers' `StableDiffusionPipeline` and the
/// ONNX peers on the same work.
struct BenchGenerate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Measure a whole SD-1.5 generation (random weights, 512x512, 20 DDIM steps); print JSON."
    )

    @Option(help: "Image width and height in pixels.")
    var size: Int = 512

    @Option(help: "Denoising steps (DDIM).")
    var steps: Int = 20

    @Option(help: "Classifier-free guidance scale (above 1 runs the UNet at batch 2).")
    var guidanceScale: Float = 7.5

    @OptionGroup var common: ModelBenchOptions

    func validate() throws {
        if size < 8 || size % 8 != 0 { throw ValidationError("--size must be a positive multiple of 8") }
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if !guidanceScale.isFinite { throw ValidationError("--guidance-scale must be finite") }
    }

    /// This benchmark's own fields (`ModelBenchMeasurement` adds the shared ones).
    struct Result: Encodable {
        var benchmark = "generate"
        var config = "sd1.5 text encoder + UNet + VAE, random weights, DDIM"
        var parameters: Int
        var imageSize: Int
        var steps: Int
        var guidanceScale: Float
        var imageMean: Double
    }

    /// The DDIM configuration Stable Diffusion 1.5 ships (`scheduler/scheduler_config.json`
    /// with DDIM's class name); the diffusers peer builds the same.
    static let schedulerJSON = """
        {"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
         "beta_schedule": "scaled_linear", "steps_offset": 1, "set_alpha_to_one": false, "clip_sample": false,
         "prediction_type": "epsilon", "timestep_spacing": "leading"}
        """

    func run() async throws {
        let runs = common.runs ?? 1, warmup = common.warmup ?? 0, weights = common.weights
        BenchRuns.prepare(threads: common.threads)
        let clock = ContinuousClock()
        let buildStart = clock.now
        let textConfig = CLIPTextConfig.sd1
        // The float32 store dies with the closure: with f16 weights the model holds half copies,
        // and the store kept alive would add its 0.49 GB to the peak.
        let (textModel, textParameters) = try {
            let store = CLIPTextModel.randomWeights(config: textConfig, seed: 7)
            let count = store.names.reduce(0) { $0 + (store.shape(of: $1) ?? []).reduce(1, *) }
            return (try CLIPTextModel(config: textConfig, weights: store, precision: weights.precision), count)
        }()
        let unet = try UNet2DConditionModel(config: .stableDiffusion15, randomSeed: 1, precision: weights.precision)
        // As the worker loads it: the decoder only (generation never encodes).
        let vae = try AutoencoderKL(config: .stableDiffusion, randomSeed: 4, precision: weights.precision, parts: .decoder)
        let pipeline = StableDiffusionPipeline(
            promptEncoder: FixedTokenPromptEncoder(textModel: textModel), noisePredictor: unet, decoder: vae,
            schedulerConfig: try SchedulerConfig.decode(Data(Self.schedulerJSON.utf8), source: "bench generate"))
        let buildSeconds = benchSeconds(clock.now - buildStart)

        var configuration = StableDiffusionPipeline.Configuration(prompt: FixedTokenPromptEncoder.prompt)
        configuration.width = size
        configuration.height = size
        configuration.steps = steps
        configuration.guidanceScale = guidanceScale
        configuration.seed = 0
        var imageMean = 0.0
        var evaluations = 0
        let measured = try BenchRuns.measure(warmup: warmup, runs: runs) {
            let result = try pipeline.generate(configuration)
            evaluations = result.timesteps.count
            imageMean = Double(result.image.bytes.reduce(0) { $0 + Int($1) }) / Double(result.image.bytes.count)
        }
        let batch = guidanceScale > 1 ? 2 : 1
        let latent = size / 8
        let flops = BenchEncoder.flops(config: textConfig, batch: batch)
            + Double(evaluations) * unet.forwardFLOPs(batch: batch, height: latent, width: latent, contextLength: textConfig.maxPositionEmbeddings)
            + vae.decodeFLOPs(batch: 1, height: latent, width: latent)
        let parameters = textParameters + unet.parameters.values.reduce(0) { $0 + $1.count }
            + vae.parameters.values.reduce(0) { $0 + $1.count }
        let heldBytes = textModel.storedWeightBytes
            + unet.parameters.values.reduce(0) { $0 + $1.storedBytes } + vae.parameters.values.reduce(0) { $0 + $1.storedBytes }
        try printBenchJSON(ModelBenchReport(
            own: Result(parameters: parameters, imageSize: size, steps: steps, guidanceScale: guidanceScale,
                        imageMean: imageMean),
            measurement: ModelBenchMeasurement(
                measured, flops: flops, buildSeconds: buildSeconds, warmup: warmup, weights: weights,
                float32WeightBytes: 4 * parameters, weightBytes: heldBytes)))
    }
}

/// The CLIP text encoder fed fixed token ids instead of a tokenizer (a random-weight benchmark
/// has no vocabulary): the empty prompt gets the unconditional ids, any other prompt the ids
/// of `BenchEncoder.promptIDs`' second sequence, as the peers use.
struct FixedTokenPromptEncoder: PromptEncoder {
    static let prompt = "a benchmark prompt"
    let textModel: CLIPTextModel

    func encode(_ prompts: [String]) throws -> (embeddings: Tensor, truncations: [String]) {
        let ids = BenchEncoder.promptIDs(batch: 2, length: textModel.config.maxPositionEmbeddings)
        return (try textModel.encode(prompts.map { $0.isEmpty ? ids[0] : ids[1] }).lastHiddenState, [])
    }
}

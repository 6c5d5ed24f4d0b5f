import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `chaperone bench vae`: seconds per VAE decode for Stable Diffusion's AutoencoderKL
/// (128/256/512/512 channels) with seeded random weights, 64×64 latents to a 512×512 image by
/// default; achieved GFLOPS, peak RSS and the time per kernel category. Prints one JSON object.
///
/// `ops/bench/peers` runs this beside diffusers, onnxruntime and OpenVINO on the same work.
struct BenchVAE: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae",
        abstract: "Measure SD VAE decode time (random weights, 64x64 latents to 512x512); print JSON."
    )

    @Option(help: "Latents decoded per call (the pipeline decodes one image at a time).")
    var batch: Int = 1

    @Option(help: "Latent height and width (64 = a 512x512 image).")
    var size: Int = 64

    @OptionGroup var common: ModelBenchOptions

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if size < 1 { throw ValidationError("--size must be at least 1") }
    }

    /// This benchmark's own fields (`ModelBenchMeasurement` adds the shared ones).
    struct Result: Encodable {
        var benchmark = "vae"
        var config = "sd AutoencoderKL decoder (post_quant_conv + decoder), random weights"
        /// Parameters of the decoding half (post_quant_conv and decoder).
        var parameters: Int
        var batch: Int
        var latentSize: Int
        var imageSize: Int
        var outputMeanAbs: Double
    }

    func run() async throws {
        let runs = common.runs ?? 3, warmup = common.warmup ?? 1, weights = common.weights
        BenchRuns.prepare(threads: common.threads)
        let clock = ContinuousClock()
        let buildStart = clock.now
        let vae = try AutoencoderKL(config: .stableDiffusion, randomSeed: 4, precision: weights.precision)
        let buildSeconds = benchSeconds(clock.now - buildStart)
        let latents = BenchData.uniform(shape: [batch, 4, size, size], seed: 5)
        var meanAbs = 0.0
        var imageSize = 0
        let measured = try BenchRuns.measure(warmup: warmup, runs: runs) {
            let image = try vae.decode(latents)
            imageSize = image.shape[2]
            meanAbs = Double(image.abs().mean())
        }
        let flops = vae.decodeFLOPs(batch: batch, height: size, width: size)
        let decoding = vae.parameters.filter { $0.key.hasPrefix("decoder.") || $0.key.hasPrefix("post_quant_conv.") }
        try printBenchJSON(ModelBenchReport(
            own: Result(parameters: decoding.values.reduce(0) { $0 + $1.count }, batch: batch, latentSize: size,
                        imageSize: imageSize, outputMeanAbs: meanAbs),
            measurement: ModelBenchMeasurement(
                measured, flops: flops, buildSeconds: buildSeconds, warmup: warmup, weights: weights,
                float32WeightBytes: 4 * vae.parameters.values.reduce(0) { $0 + $1.count },
                weightBytes: vae.parameters.values.reduce(0) { $0 + $1.storedBytes })))
    }
}

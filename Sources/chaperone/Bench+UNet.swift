import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `chaperone bench unet`: seconds per UNet evaluation for Stable Diffusion 1.5's UNet
/// architecture (320/640/1280/1280 channels, cross-attention width 768) with seeded random
/// weights built in memory, at batch 2 (classifier-free guidance) and 64×64 latents by
/// default; achieved GFLOPS and peak RSS, and where the time went: seconds per evaluation in each
/// kernel category (`OpProfile`: convolution, attention, GEMM, norms, elementwise, copies; the
/// rest is layer glue). Prints one JSON object.
///
/// `ops/bench/peers` runs this, diffusers, onnxruntime and OpenVINO on the same architecture
/// and thread count and prints the ratios.
struct BenchUNet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet",
        abstract: "Measure SD-1.5 UNet evaluation time (random weights, batch 2, 64x64 latents); print JSON."
    )

    @Option(help: "Batch size per evaluation (2 = unconditional + prompt, as classifier-free guidance runs).")
    var batch: Int = 2

    @Option(help: "Latent height and width (64 = a 512x512 image).")
    var size: Int = 64

    @Option(help: "Text tokens of conditioning (CLIP's 77).")
    var contextLength: Int = 77

    @OptionGroup var common: ModelBenchOptions

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if size < 1 { throw ValidationError("--size must be at least 1") }
        if contextLength < 1 { throw ValidationError("--context-length must be at least 1") }
    }

    /// This benchmark's own fields (`ModelBenchMeasurement` adds the shared ones).
    struct Result: Encodable {
        var benchmark = "unet"
        var config = "sd1.5 UNet2DConditionModel, random weights"
        var parameters: Int
        var batch: Int
        var latentSize: Int
        var contextLength: Int
        var outputMeanAbs: Double
    }

    func run() async throws {
        let runs = common.runs ?? 2, warmup = common.warmup ?? 0, weights = common.weights
        BenchRuns.prepare(threads: common.threads)
        let clock = ContinuousClock()
        let buildStart = clock.now
        let unet = try UNet2DConditionModel(config: .stableDiffusion15, randomSeed: 1, precision: weights.precision)
        let buildSeconds = benchSeconds(clock.now - buildStart)

        let sample = BenchData.uniform(shape: [batch, 4, size, size], seed: 2)
        let context = BenchData.uniform(shape: [batch, contextLength, 768], seed: 3)
        // Per-item timesteps, as a batch with extra branches may carry.
        let timesteps = (0..<batch).map { Float(981 - 40 * $0) }
        var meanAbs = 0.0
        let measured = try BenchRuns.measure(warmup: warmup, runs: runs) {
            let noise = try unet(sample, timesteps: timesteps, encoderHiddenStates: context)
            meanAbs = Double(noise.abs().mean())
        }
        let flops = unet.forwardFLOPs(batch: batch, height: size, width: size, contextLength: contextLength)
        let parameters = unet.parameters.values.reduce(0) { $0 + $1.count }
        try printBenchJSON(ModelBenchReport(
            own: Result(parameters: parameters, batch: batch, latentSize: size, contextLength: contextLength,
                        outputMeanAbs: meanAbs),
            measurement: ModelBenchMeasurement(
                measured, flops: flops, buildSeconds: buildSeconds, warmup: warmup, weights: weights,
                float32WeightBytes: 4 * parameters, weightBytes: unet.parameters.values.reduce(0) { $0 + $1.storedBytes })))
    }
}

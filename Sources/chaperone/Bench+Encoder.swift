import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `chaperone bench encoder`: CLIP text-encoder latency for Stable Diffusion 1.x's text config
/// (12 layers, hidden 768, 77 tokens) with deterministic random weights, and its
/// throughput in tokens per second, peak RSS and the time per kernel category. Prints one JSON
/// object; `ops/bench/peers` runs it beside transformers, onnxruntime and OpenVINO.
struct BenchEncoder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "Measure CLIP text-encoder latency (SD 1.x config, random weights); print JSON."
    )

    @Option(help: "Sequences per forward pass (2 = unconditional + prompt, as classifier-free guidance runs).")
    var batch: Int = 2

    @Option(help: "Encoder layers (SD 1.x has 12).")
    var layers: Int = 12

    @OptionGroup var common: ModelBenchOptions

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if layers < 1 { throw ValidationError("--layers must be at least 1") }
    }

    /// This benchmark's own fields (`ModelBenchMeasurement` adds the shared ones).
    struct Result: Encodable {
        var benchmark = "encoder"
        var config: String
        var layers: Int
        var hiddenSize: Int
        var parameters: Int
        var batch: Int
        var sequenceLength: Int
        var tokensPerSecond: Double
        var sequencesPerSecond: Double
        var checksum: Double
    }

    func run() async throws {
        let runs = common.runs ?? 5, warmup = common.warmup ?? 1, weights = common.weights
        BenchRuns.prepare(threads: common.threads)
        var config = CLIPTextConfig.sd1
        config.numHiddenLayers = layers
        let clock = ContinuousClock()
        let buildStart = clock.now
        let store = CLIPTextModel.randomWeights(config: config, seed: 7)
        let model = try CLIPTextModel(config: config, weights: store, precision: weights.precision)
        let buildSeconds = benchSeconds(clock.now - buildStart)
        let ids = Self.promptIDs(batch: batch, length: config.maxPositionEmbeddings)
        var checksum = 0.0
        let measured = try BenchRuns.measure(warmup: warmup, runs: runs) {
            checksum += Double(try model.encode(ids).lastHiddenState.sum())
        }
        let flops = Self.flops(config: config, batch: batch)
        let parameters = store.names.reduce(0) { $0 + (store.shape(of: $1) ?? []).reduce(1, *) }
        try printBenchJSON(ModelBenchReport(
            own: Result(
                config: "sd1.x text encoder (CLIP ViT-L/14 text)", layers: layers, hiddenSize: config.hiddenSize,
                parameters: parameters, batch: batch, sequenceLength: ids[0].count,
                tokensPerSecond: Double(batch * ids[0].count) / measured.median,
                sequencesPerSecond: Double(batch) / measured.median, checksum: checksum),
            measurement: ModelBenchMeasurement(
                measured, flops: flops, buildSeconds: buildSeconds, warmup: warmup, weights: weights,
                float32WeightBytes: 4 * parameters, weightBytes: model.storedWeightBytes)))
    }

    /// What SD feeds the encoder, with realistic ids: the start token, for every sequence after
    /// the first a short prompt (the first is the empty unconditional prompt), then end-token
    /// padding to `length`. The peers in `ops/bench/peers.py` use the same ids.
    static func promptIDs(batch: Int, length: Int) -> [[Int]] {
        (0..<batch).map { b in
            var sequence: [Int] = [49406]
            if b > 0 { for i in 0..<min(12, length - 2) { sequence.append(320 + 97 * i + b) } }
            return sequence + [Int](repeating: 49407, count: length - sequence.count)
        }
    }

    /// Matrix-product FLOPs of one forward pass: per layer and sequence 4 projections,
    /// 2 MLP GEMMs and attention's 2 products.
    static func flops(config: CLIPTextConfig, batch: Int) -> Double {
        let d = Double(config.hiddenSize), m = Double(config.intermediateSize), l = Double(config.maxPositionEmbeddings)
        return Double(batch * config.numHiddenLayers) * (2 * l * (4 * d * d + 2 * d * m) + 4 * l * l * d)
    }
}

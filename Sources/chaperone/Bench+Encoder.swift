import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `chaperone bench encoder`: CLIP text-encoder latency for Stable Diffusion 1.x's text config
/// (12 layers, hidden 768, 77 tokens) with deterministic random weights, and its
/// throughput in tokens per second. Prints one JSON object.
struct BenchEncoder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "Measure CLIP text-encoder latency (SD 1.x config, random weights); print JSON."
    )

    @Option(help: "Sequences per forward pass (2 = unconditional + prompt, as classifier-free guidance runs).")
    var batch: Int = 2

    @Option(help: "Encoder layers (SD 1.x has 12).")
    var layers: Int = 12

    @Option(help: "Timed forward passes after one warm-up.")
    var runs: Int = 5

    @Option(help: "Threads for the kernels and OpenBLAS (default: OpenBLAS's own count).")
    var threads: Int?

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if layers < 1 { throw ValidationError("--layers must be at least 1") }
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    struct Result: Codable {
        var benchmark = "encoder"
        var config: String
        var layers: Int
        var hiddenSize: Int
        var batch: Int
        var sequenceLength: Int
        var threads: Int
        var buildSeconds: Double
        var latencyMsBest: Double
        var latencyMsMedian: Double
        var latencyMsAll: [Double]
        var tokensPerSecond: Double
        var sequencesPerSecond: Double
        var gflopsPerPass: Double
        var gflopsPerSecond: Double
        var checksum: Double
        var peakResidentBytes: UInt64?
        var machine: BenchMachine
    }

    func run() async throws {
        if let threads { TensorThreads.setCount(threads) }
        var config = CLIPTextConfig.sd1
        config.numHiddenLayers = layers
        let clock = ContinuousClock()
        let buildStart = clock.now
        let model = try CLIPTextModel(config: config, weights: CLIPTextModel.randomWeights(config: config, seed: 7))
        let buildSeconds = Self.seconds(clock.now - buildStart)

        // Realistic ids: start token, a short prompt, end token padding (what SD feeds).
        let length = config.maxPositionEmbeddings
        var ids: [[Int]] = []
        for b in 0..<batch {
            var sequence: [Int] = [49406]
            if b > 0 { for i in 0..<min(12, length - 2) { sequence.append(320 + 97 * i + b) } }
            sequence += [Int](repeating: 49407, count: length - sequence.count)
            ids.append(sequence)
        }
        var checksum = Double(try model.encode(ids).lastHiddenState.sum())  // warm-up
        var times: [Double] = []
        for _ in 0..<runs {
            let start = clock.now
            let output = try model.encode(ids)
            times.append(Self.seconds(clock.now - start))
            checksum += Double(output.lastHiddenState.sum())
        }
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        let tokens = Double(batch * length)
        let d = Double(config.hiddenSize), m = Double(config.intermediateSize), l = Double(length)
        // Per layer and sequence: 4 projections + 2 MLP GEMMs + 2 attention products.
        let flops = Double(batch * layers) * (2 * l * (4 * d * d + 2 * d * m) + 4 * l * l * d)
        try printBenchJSON(Result(
            config: "sd1.x text encoder (CLIP ViT-L/14 text)", layers: layers, hiddenSize: config.hiddenSize,
            batch: batch, sequenceLength: length, threads: TensorThreads.count, buildSeconds: buildSeconds,
            latencyMsBest: sorted[0] * 1000, latencyMsMedian: median * 1000, latencyMsAll: times.map { $0 * 1000 },
            tokensPerSecond: tokens / median, sequencesPerSecond: Double(batch) / median,
            gflopsPerPass: flops / 1e9, gflopsPerSecond: flops / median / 1e9, checksum: checksum,
            peakResidentBytes: peakResidentSetBytes(), machine: .current()))
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}

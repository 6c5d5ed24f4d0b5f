import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `chaperone bench gemm`: GFLOPS of the Tensor GEMM paths against the raw BLAS peak.
///
/// Every entry is timed in the same process. Raw `sgemm` comes first; its best rate over square
/// 1024/2048 and two conv-shaped products is the peak (small cache-resident sizes are left out
/// because they overstate sustained speed). Then our `matmul`, `linear`, `conv2d` and attention
/// on Stable Diffusion v1.x shapes (64x64 latent), plus a few memory-bound kernels reported in
/// milliseconds only. Each case is warmed up once and the best
/// of several runs is kept, so the numbers show what the code can do rather than scheduler noise.
struct BenchGemm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Measure GFLOPS of sgemm, matmul, linear, conv2d and attention; print JSON."
    )

    @Option(help: "Threads for the kernels and OpenBLAS (default: OpenBLAS's own count).")
    var threads: Int?

    @Option(help: "Minimum seconds spent timing each case.")
    var seconds: Double = 0.5

    @Flag(help: "Smaller shapes for a fast smoke run.")
    var quick = false

    @Flag(help: "Keep glibc's default allocator thresholds (fresh pages for every large tensor).")
    var systemAllocator = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if seconds <= 0 { throw ValidationError("--seconds must be positive") }
    }

    func run() async throws {
        if let threads { TensorThreads.setCount(threads) }
        let retained = systemAllocator ? false : TensorMemory.retainFreedBuffers()
        let timer = BenchTimer(minimumSeconds: seconds)
        let s = quick ? 4 : 1  // shrink spatial sizes in quick mode
        let hw = 64 / s, tokens = hw * hw

        var peak: [GemmResult] = []
        for (m, n, k) in [(1024, 1024, 1024), (2048, 2048, 2048), (320, tokens, 2880), (1280, tokens / 16, 11520)] {
            let a = BenchData.random(m * k), b = BenchData.random(k * n)
            var c = [Float](repeating: 0, count: m * n)
            let time = a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        timer.best { BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!) }
                    }
                }
            }
            peak.append(GemmResult(name: "sgemm \(m)x\(k) * \(k)x\(n)", flops: 2 * Double(m * n * k), seconds: time))
        }
        let peakGFLOPS = peak.map(\.gflops).max() ?? 1

        var paths: [GemmResult] = []
        func measure(_ name: String, flops: Double, _ body: () -> Tensor) {
            var sink: Float = 0
            let time = timer.best { sink += body().withUnsafeBufferPointer { $0.first ?? 0 } }
            paths.append(GemmResult(name: name, flops: flops, seconds: time, peakGFLOPS: peakGFLOPS, checksum: sink))
        }

        // matmul: 2-D and batched with transposes (attention-score shapes).
        let a2 = BenchData.tensor([1024, 1024]), b2 = BenchData.tensor([1024, 1024])
        measure("matmul [1024,1024]x[1024,1024]", flops: 2 * pow(1024, 3)) { matmul(a2, b2) }
        let qh = BenchData.tensor([16, tokens, 40]), kh = BenchData.tensor([16, 77, 40])
        measure("matmul batched [16,\(tokens),40]x[16,77,40]^T", flops: 2 * 16 * Double(tokens * 77 * 40)) {
            matmul(qh, kh, transposeB: true)
        }

        // linear: SD attention projections and the GEGLU feed-forward.
        let x320 = BenchData.tensor([2, tokens, 320])
        let wq = BenchData.tensor([320, 320]), wff = BenchData.tensor([2560, 320]), bff = BenchData.tensor([2560])
        measure("linear [2,\(tokens),320]->320", flops: 2 * Double(2 * tokens * 320 * 320)) { linear(x320, weight: wq) }
        measure("linear [2,\(tokens),320]->2560 +bias", flops: 2 * Double(2 * tokens * 320 * 2560)) {
            linear(x320, weight: wff, bias: bff)
        }

        // conv2d: UNet resnet 3x3 convs at each level, conv_in, a 1x1 shortcut and a stride-2 downsample.
        func conv(_ name: String, _ x: [Int], _ w: [Int], stride: Int = 1, padding: Int = 1) {
            let xt = BenchData.tensor(x), wt = BenchData.tensor(w), bt = BenchData.tensor([w[0]])
            let ho = (x[2] + 2 * padding - w[2]) / stride + 1, wo = (x[3] + 2 * padding - w[3]) / stride + 1
            let flops = 2 * Double(x[0] * w[0] * ho * wo) * Double(w[1] * w[2] * w[3])
            measure("conv2d \(name) x\(x) w\(w) s\(stride)", flops: flops) {
                conv2d(xt, weight: wt, bias: bt, stride: stride, padding: padding)
            }
        }
        conv("3x3", [1, 320, hw, hw], [320, 320, 3, 3])
        conv("3x3", [1, 640, hw / 2, hw / 2], [640, 640, 3, 3])
        conv("3x3", [1, 1280, hw / 4, hw / 4], [1280, 1280, 3, 3])
        conv("conv_in", [1, 4, hw, hw], [320, 4, 3, 3])
        conv("1x1", [1, 320, hw, hw], [640, 320, 1, 1], padding: 0)
        conv("down", [1, 320, hw, hw], [320, 320, 3, 3], stride: 2)

        // attention: self-attention at the 64x64 and 32x32 levels, cross-attention to 77 tokens.
        func attention(_ name: String, batch: Int, heads: Int, lq: Int, lk: Int, d: Int) {
            let q = BenchData.tensor([batch, heads, lq, d]), k = BenchData.tensor([batch, heads, lk, d])
            let v = BenchData.tensor([batch, heads, lk, d])
            measure("attention \(name) [\(batch),\(heads),\(lq),\(d)] keys \(lk)", flops: 4 * Double(batch * heads * lq * lk * d)) {
                scaledDotProductAttention(query: q, key: k, value: v)
            }
        }
        attention("self", batch: 2, heads: 8, lq: tokens, lk: tokens, d: 40)
        attention("self", batch: 2, heads: 8, lq: tokens / 4, lk: tokens / 4, d: 80)
        attention("cross", batch: 2, heads: 8, lq: tokens, lk: 77, d: 40)

        // Memory-bound kernels (no FLOP count): milliseconds only.
        var other: [KernelTime] = []
        func time(_ name: String, _ body: () -> Tensor) {
            var sink: Float = 0
            let t = timer.best { sink += body().withUnsafeBufferPointer { $0.first ?? 0 } }
            other.append(KernelTime(name: name, milliseconds: t * 1000, checksum: sink))
        }
        let feature = BenchData.tensor([2, 320, hw, hw]), channelBias = BenchData.tensor([320, 1, 1])
        let gamma = BenchData.tensor([320]), beta = BenchData.tensor([320])
        time("groupNormSiLU [2,320,\(hw),\(hw)] groups 32") { groupNormSiLU(feature, groups: 32, weight: gamma, bias: beta) }
        time("add same shape [2,320,\(hw),\(hw)]") { feature + feature }
        time("add broadcast [2,320,\(hw),\(hw)] + [320,1,1]") { feature + channelBias }
        time("silu [2,320,\(hw),\(hw)]") { feature.silu() }
        let hidden = BenchData.tensor([2, tokens, 1280]), half = BenchData.tensor([2, 320, hw / 2, hw / 2])
        time("gelu [2,\(tokens),1280]") { hidden.gelu() }
        let scores = BenchData.tensor([16, tokens, 77])
        time("softmax rows [16,\(tokens),77]") { scores.softmax(axis: -1) }
        time("layerNorm [2,\(tokens),320]") { layerNorm(x320, weight: gamma, bias: beta) }
        time("permute NCHW->NHWC [2,320,\(hw),\(hw)]") { feature.permuted([0, 2, 3, 1]) }
        time("upsampleNearest x2 [2,320,\(hw / 2),\(hw / 2)]") { half.upsampleNearest(scale: 2) }

        try printBenchJSON(GemmBenchReport(
            machine: .current(), threads: TensorThreads.count, blasCore: BLAS.coreName, blasConfig: BLAS.configuration,
            quick: quick, retainedFreedBuffers: retained, peakGflops: peakGFLOPS, blasPeak: peak, paths: paths, memoryBound: other,
            peakResidentBytes: peakResidentSetBytes()))
    }
}

/// One timed GEMM-like case.
struct GemmResult: Codable, Sendable {
    var name: String
    var seconds: Double
    var gflops: Double
    /// This path's GFLOPS over the best raw sgemm GFLOPS of the same run.
    var fractionOfPeak: Double?
    var checksum: Float?

    init(name: String, flops: Double, seconds: Double, peakGFLOPS: Double? = nil, checksum: Float? = nil) {
        self.name = name
        self.seconds = seconds
        self.gflops = flops / seconds / 1e9
        self.fractionOfPeak = peakGFLOPS.map { (flops / seconds / 1e9) / $0 }
        self.checksum = checksum
    }
}

/// One timed memory-bound kernel.
struct KernelTime: Codable, Sendable {
    var name: String
    var milliseconds: Double
    var checksum: Float
}

/// The JSON printed by `chaperone bench gemm`.
struct GemmBenchReport: Codable, Sendable {
    var machine: BenchMachine
    var threads: Int
    var blasCore: String
    var blasConfig: String
    var quick: Bool
    /// Whether `TensorMemory.retainFreedBuffers()` was in effect.
    var retainedFreedBuffers: Bool
    var peakGflops: Double
    var blasPeak: [GemmResult]
    var paths: [GemmResult]
    var memoryBound: [KernelTime]
    var peakResidentBytes: UInt64?
}

/// Best-of-N wall-clock timing: one warm-up, then runs until `minimumSeconds` have passed (≥ 3 runs).
struct BenchTimer: Sendable {
    var minimumSeconds: Double

    func best(_ body: () -> Void) -> Double {
        body()
        let clock = ContinuousClock()
        var best = Double.infinity
        var spent = 0.0
        var runs = 0
        while runs < 3 || spent < minimumSeconds {
            let d = clock.measure(body)
            let s = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            best = Swift.min(best, s)
            spent += s
            runs += 1
        }
        return best
    }
}

/// Deterministic pseudo-random inputs for benchmarks.
enum BenchData {
    static func random(_ count: Int) -> [Float] {
        var state: UInt32 = 2_463_534_242
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return Float(state % 2001) / 1000 - 1
        }
    }

    static func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: random(shape.reduce(1, *)))
    }

    /// Uniform noise in [-1, 1) from a fixed seed: model inputs of realistic range, the same
    /// every run.
    static func uniform(shape: [Int], seed: UInt64) -> Tensor {
        SyntheticWeights.tensor(seed: seed, stream: 0, shape: shape, mean: 0, halfWidth: 1)
    }
}

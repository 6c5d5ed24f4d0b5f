import ArgumentParser
import Diffusion
import Foundation
import Tensor
import Worker

/// `chaperone bench …`: benchmarks that print one JSON object to standard output.
///
/// Speed and memory are measured here, never by timed assertions in tests.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a benchmark and print its results as JSON.",
        subcommands: [
            BenchPipeline.self,
            BenchKafka.self,
            BenchGemm.self,
            BenchUNet.self,
            BenchVAE.self,
            BenchGenerate.self,
            BenchEncoder.self,
            BenchScorers.self,
            BenchAudit.self,
            BenchMitigations.self,
            BenchEscalation.self,
        ]
    )
}

/// Facts about the machine a benchmark ran on, included in every benchmark's JSON.
struct BenchMachine: Codable, Sendable {
    var cores: Int
    var memoryBytes: UInt64
    var os: String
    /// The CPU's model name, where `/proc/cpuinfo` gives one.
    var cpu: String?
    /// Its vector extensions (`avx2`, `fma`, `avx512f`, ...): peers pick their kernels by them.
    var vectorExtensions: [String]

    static func current() -> BenchMachine {
        let info = ProcessInfo.processInfo
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)).map(CPUInfo.init(cpuinfo:))
        return BenchMachine(
            cores: info.activeProcessorCount,
            memoryBytes: info.physicalMemory,
            os: info.operatingSystemVersionString,
            cpu: cpu?.model,
            vectorExtensions: cpu?.vectorExtensions ?? []
        )
    }
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`), or nil where unknown.
func peakResidentSetBytes() -> UInt64? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if parts.count >= 2, let kib = UInt64(parts[1]) { return kib * 1024 }
    }
    return nil
}

/// Prints a benchmark result as pretty, key-sorted JSON on standard output.
func printBenchJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Times a model's forward pass the same way in every model benchmark: untimed warm-up runs,
/// then timed runs with `OpProfile` charging kernel time by category.
struct BenchRuns {
    /// Seconds of each timed run, in order.
    var seconds: [Double]
    /// Mean seconds per timed run in each kernel category, plus `other` (layer glue, allocation,
    /// scheduler arithmetic: time outside the measured kernels).
    var opSeconds: [String: Double]
    /// Share of the mean run time per category (the same keys as `opSeconds`).
    var opShare: [String: Double]
    /// Outermost kernel calls per run in each category.
    var opCalls: [String: Int]

    var best: Double { seconds.min() ?? 0 }
    var median: Double { seconds.sorted()[seconds.count / 2] }

    /// Sets up the process as the worker and `generate` run: the kernel thread count, and glibc
    /// keeping freed tensor buffers for reuse (`TensorMemory.retainFreedBuffers`).
    static func prepare(threads: Int?) {
        if let threads { TensorThreads.setCount(threads) }
        TensorMemory.retainFreedBuffers()
    }

    /// Runs `body` `warmup` times untimed, then `runs` times timed and profiled.
    static func measure(warmup: Int, runs: Int, _ body: () throws -> Void) rethrows -> BenchRuns {
        for _ in 0..<warmup { try body() }
        let clock = ContinuousClock()
        var times: [Double] = []
        OpProfile.start()
        defer { OpProfile.stop() }
        for _ in 0..<runs {
            let start = clock.now
            try body()
            times.append(benchSeconds(clock.now - start))
        }
        let profile = OpProfile.stop()
        let mean = times.reduce(0, +) / Double(runs)
        var opSeconds: [String: Double] = [:]
        var opCalls: [String: Int] = [:]
        for category in OpCategory.allCases {
            opSeconds[category.name] = profile.seconds(category) / Double(runs)
            opCalls[category.name] = profile.calls[category.rawValue] / runs
        }
        opSeconds["other"] = Swift.max(0, mean - profile.totalSeconds / Double(runs))
        return BenchRuns(seconds: times, opSeconds: opSeconds, opShare: opSeconds.mapValues { $0 / mean }, opCalls: opCalls)
    }
}

/// A duration in seconds.
func benchSeconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
}

/// How a model benchmark holds its random weight matrices: float32, or rounded to half and
/// widened per layer as it runs (`WeightPrecision.float16`).
enum BenchWeights: String, ExpressibleByArgument, CaseIterable {
    case f32, f16

    var precision: WeightPrecision { self == .f16 ? .float16 : .file }
}

/// What every model benchmark (`unet`, `vae`, `encoder`, `generate`) reports besides its own
/// fields: timing, GFLOPS, weight bytes, peak RSS, time per kernel category, the BLAS core and
/// the machine. `ops/bench/peers` reads these keys from each part.
struct ModelBenchMeasurement: Encodable {
    var threads: Int
    var buildSeconds: Double
    var warmupRuns: Int
    var secondsBest: Double
    var secondsMedian: Double
    var secondsAll: [Double]
    var gflopsPerEvaluation: Double
    var gflopsPerSecond: Double
    /// `f32` or `f16`: how the weight matrices are held.
    var weights: String
    /// Bytes of the weights as float32, the reference for peak RSS.
    var float32WeightBytes: Int
    /// Bytes the weights occupy as held.
    var weightBytes: Int
    var peakResidentBytes: UInt64?
    /// Peak RSS over the float32 weight bytes.
    var peakResidentOverFloat32WeightBytes: Double?
    /// Mean seconds per timed run in each kernel category, plus `other`.
    var opSeconds: [String: Double]
    /// Share of the mean run time per category.
    var opShare: [String: Double]
    /// Outermost kernel calls per run in each category.
    var opCalls: [String: Int]
    var blasCore: String
    var machine: BenchMachine

    init(_ runs: BenchRuns, flops: Double, buildSeconds: Double, warmup: Int, weights: BenchWeights,
         float32WeightBytes: Int, weightBytes: Int) {
        let peak = peakResidentSetBytes()
        threads = TensorThreads.count
        self.buildSeconds = buildSeconds
        warmupRuns = warmup
        secondsBest = runs.best
        secondsMedian = runs.median
        secondsAll = runs.seconds
        gflopsPerEvaluation = flops / 1e9
        gflopsPerSecond = flops / runs.median / 1e9
        self.weights = weights.rawValue
        self.float32WeightBytes = float32WeightBytes
        self.weightBytes = weightBytes
        peakResidentBytes = peak
        peakResidentOverFloat32WeightBytes = peak.map { Double($0) / Double(float32WeightBytes) }
        opSeconds = runs.opSeconds
        opShare = runs.opShare
        opCalls = runs.opCalls
        blasCore = BLAS.coreName
        machine = .current()
    }
}

/// One JSON object with a benchmark's own fields and the shared measurement side by side.
struct ModelBenchReport<Own: Encodable>: Encodable {
    var own: Own
    var measurement: ModelBenchMeasurement

    func encode(to encoder: any Encoder) throws {
        try own.encode(to: encoder)
        try measurement.encode(to: encoder)
    }
}

/// The options every model benchmark takes: how many runs, the threads, the weight storage.
struct ModelBenchOptions: ParsableArguments {
    @Option(help: "Timed runs (default: unet 2, vae 3, encoder 5, generate 1).")
    var runs: Int?

    @Option(help: "Untimed runs before timing (default: unet 0, vae 1, encoder 1, generate 0).")
    var warmup: Int?

    @Option(help: "Threads for the kernels and OpenBLAS (default: OpenBLAS's own count).")
    var threads: Int?

    @Option(help: "How the weight matrices are held: f32, or f16 (rounded to half, widened per layer as it runs).")
    var weights: BenchWeights = .f32

    func validate() throws {
        if let runs, runs < 1 { throw ValidationError("--runs must be at least 1") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must not be negative") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

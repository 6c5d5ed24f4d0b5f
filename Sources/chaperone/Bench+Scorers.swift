import ArgumentParser
import Foundation
import HarmScoring
import Tensor

/// `chaperone bench scorers`: milliseconds per image for the image harm scorers run natively.
///
/// NudeNet v3 (`320n.onnx`, fetched by `ops/lib/nudenet-model.sh`) on a deterministic 320×320
/// RGB image, so pre-processing needs no resize and the time is the network plus decoding.
/// Model loading is timed apart; each scorer is warmed up once before the timed runs.
struct BenchScorers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scorers",
        abstract: "Measure ms per image of the native image scorers (NudeNet); print JSON."
    )

    @Option(help: "Path of NudeNet's 320n.onnx (default: $CHAPERONE_NUDENET_ONNX, else var/nudenet/320n.onnx).")
    var nudenetModel: String?

    @Option(help: "Timed images per scorer after one warm-up.")
    var runs: Int = 10

    @Option(help: "Threads for the kernels and OpenBLAS (default: OpenBLAS's own count).")
    var threads: Int?

    func validate() throws {
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    struct ScorerResult: Codable {
        var scorer: String
        var input: String
        var loadMs: Double
        var msPerImageMedian: Double
        var msPerImageBest: Double
        var msPerImageAll: [Double]
        var detections: Int
        /// One extra profiled run: milliseconds per ONNX operator type.
        var msByOperator: [String: Double]
    }

    struct Result: Codable {
        var benchmark = "scorers"
        var threads: Int
        var runs: Int
        var scorers: [ScorerResult]
        var machine: BenchMachine
        var peakResidentBytes: UInt64?
    }

    func run() async throws {
        if let threads { TensorThreads.setCount(threads) }
        let path = nudenetModel
            ?? ProcessInfo.processInfo.environment["CHAPERONE_NUDENET_ONNX"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "var/nudenet/320n.onnx"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("NudeNet model not found at \(path): run ops/lib/nudenet-model.sh or pass --nudenet-model")
        }
        let loadStart = ContinuousClock.now
        let detector = try NudeNetDetector(modelURL: URL(fileURLWithPath: path))
        let loadMs = Self.milliseconds(ContinuousClock.now - loadStart)

        let side = 320
        let image = Self.testImage(side: side)
        var detections = try detector.detect(rgb: image, width: side, height: side).count  // warm-up
        var times: [Double] = []
        for _ in 0..<runs {
            let start = ContinuousClock.now
            detections = try detector.detect(rgb: image, width: side, height: side).count
            times.append(Self.milliseconds(ContinuousClock.now - start))
        }
        let profile = try detector.profile(blob: detector.preprocessor.blob(rgb: image, width: side, height: side))
        let sorted = times.sorted()
        let nudenet = ScorerResult(
            scorer: "nudenet", input: "\(side)x\(side) RGB", loadMs: loadMs,
            msPerImageMedian: sorted[sorted.count / 2], msPerImageBest: sorted[0], msPerImageAll: times,
            detections: detections, msByOperator: profile)
        try printBenchJSON(Result(
            threads: TensorThreads.count, runs: runs, scorers: [nudenet],
            machine: .current(), peakResidentBytes: peakResidentSetBytes()))
    }

    /// A deterministic skin-toned gradient with a darker ellipse, RGB interleaved.
    static func testImage(side: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        for y in 0..<side {
            for x in 0..<side {
                let dx = Double(x - side / 2) / Double(side / 4), dy = Double(y - side / 3) / Double(side / 3)
                let inside = dx * dx + dy * dy < 1
                let i = (y * side + x) * 3
                pixels[i] = UInt8(inside ? 150 : 200 + (x * 40) / side)
                pixels[i + 1] = UInt8(inside ? 110 : 160 + (y * 40) / side)
                pixels[i + 2] = UInt8(inside ? 90 : 130)
            }
        }
        return pixels
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let c = duration.components
        return Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
    }
}

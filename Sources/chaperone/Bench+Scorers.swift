import Moderation
import ArgumentParser
import Diffusion
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
        abstract: "Measure ms per image of the native image scorers (NudeNet, SD safety checker, a model's ONNX scorers); print JSON."
    )

    @Option(help: "Path of NudeNet's 320n.onnx (default: $CHAPERONE_MODEL_NUDENET, as the worker's model.nudenet, else var/nudenet/320n.onnx).")
    var nudenetModel: String?

    @Option(help: "A diffusers safety_checker/ folder to time; default: the SD v1.x safety checker architecture (CLIP ViT-L/14, 24 layers) with deterministic random weights.")
    var safetyChecker: String?

    @Flag(help: "Skip the SD safety checker (its random-weight build takes ~1.2 GB).")
    var noSafetyChecker = false

    @Option(help: "A model folder whose scorers/ (ONNX classifiers) to time as well.")
    var model: String?

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
        var msByOperator: [String: Double]?
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
            ?? ProcessInfo.processInfo.environment["CHAPERONE_MODEL_NUDENET"].flatMap { $0.isEmpty ? nil : $0 }
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
        var results = [nudenet]
        if !noSafetyChecker { results.append(try timeSafetyChecker()) }
        if let model {
            for scorer in try OnnxImageScorer.loadFolder(URL(fileURLWithPath: model).appendingPathComponent("scorers")) {
                let side = scorer.descriptor.inputWidth
                let pixels = Self.testImage(side: side)
                results.append(try time(name: "onnx:\(scorer.name)", input: "\(side)x\(side) RGB", loadMs: 0) {
                    try scorer.score(rgb: pixels, width: side, height: side).scores.count
                })
            }
        }
        try printBenchJSON(Result(
            threads: TensorThreads.count, runs: runs, scorers: results,
            machine: .current(), peakResidentBytes: peakResidentSetBytes()))
    }

    /// Times `body` (which returns a detection count) `runs` times after one warm-up.
    func time(name: String, input: String, loadMs: Double, _ body: () throws -> Int) throws -> ScorerResult {
        var detections = try body()
        var times: [Double] = []
        for _ in 0..<runs {
            let start = ContinuousClock.now
            detections = try body()
            times.append(Self.milliseconds(ContinuousClock.now - start))
        }
        let sorted = times.sorted()
        return ScorerResult(
            scorer: name, input: input, loadMs: loadMs, msPerImageMedian: sorted[sorted.count / 2],
            msPerImageBest: sorted[0], msPerImageAll: times, detections: detections, msByOperator: nil)
    }

    /// The SD safety checker on a 512×512 image (resized and cropped to 224 as diffusers does).
    func timeSafetyChecker() throws -> ScorerResult {
        let loadStart = ContinuousClock.now
        let checker: StableDiffusionSafetyChecker
        let source: String
        if let safetyChecker {
            checker = try StableDiffusionSafetyChecker(folder: URL(fileURLWithPath: safetyChecker))
            source = "safety_checker (folder)"
        } else {
            checker = try Self.sdSafetyCheckerWithRandomWeights()
            source = "safety_checker (SD v1.x architecture, random weights)"
        }
        let loadMs = Self.milliseconds(ContinuousClock.now - loadStart)
        let side = 512
        let pixels = Self.testImage(side: side)
        return try time(name: source, input: "\(side)x\(side) RGB", loadMs: loadMs) {
            try checker.check(rgb: pixels, width: side, height: side).nsfw ? 1 : 0
        }
    }

    /// CLIP ViT-L/14 vision tower (hidden 1024, 24 layers, 16 heads, patch 14 at 224) with a
    /// 768-wide projection, 17 concept and 3 special-care embeddings: the published checker's
    /// shapes, filled with deterministic uniform noise.
    static func sdSafetyCheckerWithRandomWeights() throws -> StableDiffusionSafetyChecker {
        let config = CLIPVisionConfig(
            hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24, numAttentionHeads: 16, imageSize: 224, patchSize: 14)
        var shapes = CLIPVisionModel.expectedWeights(config: config, prefix: "vision_model.")
        shapes["visual_projection.weight"] = [768, 1024]
        shapes["concept_embeds"] = [17, 768]
        shapes["special_care_embeds"] = [3, 768]
        shapes["concept_embeds_weights"] = [17]
        shapes["special_care_embeds_weights"] = [3]
        var tensors: [String: Tensor] = [:]
        for (stream, (name, shape)) in shapes.sorted(by: { $0.key < $1.key }).enumerated() {
            let (mean, halfWidth): (Double, Double) = name.contains("layer_norm") && name.hasSuffix(".weight") ? (1, 0.1)
                : name.hasSuffix("_weights") ? (0.2, 0.05)
                : shape.count == 2 ? (0, (3.0 / Double(shape[1])).squareRoot()) : (0, 0.02)
            tensors[name] = SyntheticWeights.tensor(seed: 11, stream: UInt64(stream), shape: shape, mean: mean, halfWidth: halfWidth)
        }
        return try StableDiffusionSafetyChecker(
            config: config, projectionDim: 768, weights: WeightStore(tensors: tensors),
            preprocessor: CLIPImagePreprocessor(), source: "random SD safety checker")
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

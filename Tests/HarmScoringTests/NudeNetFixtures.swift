import Diffusion
import Foundation
import OnnxRunner
import Tensor
import Testing

@testable import HarmScoring
import TestSupport

/// Fixtures written by ops/reference/make_nudenet_fixtures.py from nudenet 3.4.2 (onnxruntime).
enum NudeNetFixtures {
    static let repositoryRoot = TestPaths.repositoryRoot
    static let root = repositoryRoot.appendingPathComponent("Tests/Fixtures/nudenet")

    struct Expected: Decodable {
        struct Detection: Decodable {
            var `class`: String
            var score: Float
            var box: [Int]
        }
        struct Image: Decodable {
            var image: String
            var width: Int
            var height: Int
            var detections: [Detection]
        }
        var images: [Image]
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: root.appendingPathComponent("expected.json")))
    }

    static func image(_ name: String) throws -> PixelBuffer {
        try PNG.read(contentsOf: root.appendingPathComponent("images/\(name)")).rgb()
    }

    static func tensor(_ name: String) throws -> OnnxValue {
        let bytes = [UInt8](try Data(contentsOf: root.appendingPathComponent("raw/\(name)")))
        return try OnnxValue(serializedTensorProto: bytes, context: name)
    }

    /// Images with a committed input blob and raw output0.
    static let rawCases = ["portrait_full", "portrait_tiled"]

    /// The model: $CHAPERONE_NUDENET_ONNX, else the cache of ops/lib/nudenet-model.sh.
    static func modelURL() -> URL? {
        if let path = ProcessInfo.processInfo.environment["CHAPERONE_NUDENET_ONNX"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let cached = repositoryRoot.appendingPathComponent("var/nudenet/320n.onnx")
        return FileManager.default.fileExists(atPath: cached.path) ? cached : nil
    }

    /// Loads the detector once per process.
    static let detector: Result<NudeNetDetector, HarmScoringError>? = {
        guard let url = modelURL() else { return nil }
        do throws(HarmScoringError) {
            return .success(try NudeNetDetector(modelURL: url))
        } catch {
            return .failure(error)
        }
    }()

    /// The detector, or a recorded failure telling how to fetch the model (tests never skip).
    static func requireDetector() throws -> NudeNetDetector {
        switch detector {
        case .success(let detector)?:
            return detector
        case .failure(let error)?:
            Issue.record("NudeNet model could not be loaded: \(error). Re-fetch it with ops/lib/nudenet-model.sh.")
            throw error
        case nil:
            Issue.record("""
                NudeNet model not found: run ops/lib/nudenet-model.sh (it downloads nudenet 3.4.2 and prints \
                the path of 320n.onnx, cached in var/nudenet/) or set CHAPERONE_NUDENET_ONNX to that file.
                """)
            throw HarmScoringError(.modelLoad, "NudeNet model not found")
        }
    }
}

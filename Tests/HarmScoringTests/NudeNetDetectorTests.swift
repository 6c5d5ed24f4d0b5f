import Diffusion
import Foundation
import OnnxRunner
import Tensor
import Testing

@testable import HarmScoring

/// The native detector against `NudeDetector().detect(path)` of nudenet 3.4.2 on 26 images.
/// Needs the model (ops/lib/nudenet-model.sh); fails, never skips, when it is absent.
@Suite struct NudeNetDetectorTests {
    @Test(arguments: NudeNetFixtures.rawCases)
    func rawOutputMatchesOnnxRuntime(_ name: String) throws {
        let detector = try NudeNetFixtures.requireDetector()
        let pixels = try #require(NudeNetFixtures.tensor("\(name).blob_u8.pb").int64Tensor)
        let blob = Tensor(shape: pixels.shape, scalars: pixels.scalars.map { Float($0) * Float(1.0 / 255.0) })
        let reference = try #require(NudeNetFixtures.tensor("\(name).output0.pb").floatTensor)
        let output = try detector.rawOutput(blob: blob)
        #expect(output.shape == [1, 22, 2100])
        // Rows 0-3 are box coordinates in pixels (up to 320), rows 4-21 sigmoid scores.
        var boxError: Float = 0, scoreError: Float = 0
        let out = output.scalars, ref = reference.scalars
        for i in 0..<out.count {
            let e = abs(out[i] - ref[i])
            if i < 4 * 2100 { boxError = max(boxError, e) } else { scoreError = max(scoreError, e) }
        }
        #expect(scoreError <= 1e-4, "\(name): class scores max abs error \(scoreError)")
        #expect(boxError <= 1e-3, "\(name): box coordinates max abs error \(boxError)")
    }

    @Test func detectionsEqualThePythonPackage() throws {
        let detector = try NudeNetFixtures.requireDetector()
        let expected = try NudeNetFixtures.expected().images
        #expect(expected.count >= 20)
        #expect(expected.filter { !$0.detections.isEmpty }.count >= 10)
        for item in expected {
            let image = try NudeNetFixtures.image(item.image)
            #expect(image.width == item.width && image.height == item.height)
            let detections = try detector.detect(image)
            #expect(detections.count == item.detections.count, "\(item.image): \(detections) vs \(item.detections.map(\.class))")
            for (d, e) in zip(detections, item.detections) {
                #expect(d.label.rawValue == e.class, "\(item.image)")
                #expect(abs(d.score - e.score) <= 1e-3, "\(item.image): score \(d.score) vs \(e.score)")
                let box = [d.box.x, d.box.y, d.box.width, d.box.height]
                #expect(zip(box, e.box).allSatisfy { abs($0 - $1) <= 1 }, "\(item.image): box \(box) vs \(e.box)")
            }
        }
    }

    @Test func refusesAMissingOrBrokenModel() throws {
        #expect(throws: HarmScoringError.self) {
            try NudeNetDetector(modelURL: NudeNetFixtures.root.appendingPathComponent("no-such-model.onnx"))
        }
        #expect(throws: HarmScoringError.self) {
            try NudeNetDetector(modelURL: NudeNetFixtures.root.appendingPathComponent("expected.json"))
        }
    }
}

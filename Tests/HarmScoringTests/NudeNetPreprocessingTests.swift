import Diffusion
import Foundation
import OnnxRunner
import Tensor
import Testing

@testable import HarmScoring

/// Pre- and post-processing against nudenet 3.4.2's own intermediate values (no model needed).
@Suite struct NudeNetPreprocessingTests {
    @Test(arguments: NudeNetFixtures.rawCases)
    func resizedPixelsEqualOpenCVBlob(_ name: String) throws {
        let image = try NudeNetFixtures.image("\(name).png")
        let reference = try #require(NudeNetFixtures.tensor("\(name).blob_u8.pb").int64Tensor)
        #expect(reference.shape == [1, 3, 320, 320])
        let planes = try NudeNetPreprocessor().resizedPlanes(rgb: image.bytes, width: image.width, height: image.height)
        let mismatches = zip(planes, reference.scalars).filter { Int64($0.0) != $0.1 }.count
        #expect(planes.count == reference.scalars.count)
        #expect(mismatches == 0, "\(name): \(mismatches) of \(planes.count) pixels differ from cv2.dnn.blobFromImage")
    }

    @Test func blobIsPixelsOver255InBGROrder() throws {
        // A 2×1 image, padded to 2×2 and upscaled: the top-left blob value of channel 0 is blue.
        let rgb: [UInt8] = [10, 20, 30, 40, 50, 60]
        let pre = NudeNetPreprocessor(inputSize: 2)
        let planes = try pre.resizedPlanes(rgb: rgb, width: 2, height: 1)
        #expect(Array(planes[0..<4]) == [30, 60, 0, 0])
        #expect(Array(planes[4..<8]) == [20, 50, 0, 0])
        #expect(Array(planes[8..<12]) == [10, 40, 0, 0])
        let blob = try pre.blob(rgb: rgb, width: 2, height: 1)
        #expect(blob.shape == [1, 3, 2, 2])
        #expect(blob[0, 0, 0, 0] == Float(30) * Float(1.0 / 255.0))
    }

    @Test func rgbOrderSwapsTheOuterPlanes() throws {
        let rgb: [UInt8] = [10, 20, 30, 40, 50, 60]
        let planes = try NudeNetPreprocessor(inputSize: 2, channelOrder: .rgb).resizedPlanes(rgb: rgb, width: 2, height: 1)
        #expect(Array(planes[0..<4]) == [10, 40, 0, 0])
        #expect(Array(planes[8..<12]) == [30, 60, 0, 0])
    }

    @Test func refusesBadImages() {
        let pre = NudeNetPreprocessor()
        #expect(throws: HarmScoringError.self) { try pre.blob(rgb: [1, 2, 3], width: 2, height: 1) }
        #expect(throws: HarmScoringError.self) { try pre.blob(rgb: [], width: 0, height: 0) }
        #expect(throws: HarmScoringError.self) { try pre.blob(rgb: [1, 2], width: -1, height: 1) }
    }

    @Test(arguments: NudeNetFixtures.rawCases)
    func decodingOnnxRuntimeOutputGivesPackageDetections(_ name: String) throws {
        let output0 = try #require(NudeNetFixtures.tensor("\(name).output0.pb").floatTensor)
        let expected = try #require(NudeNetFixtures.expected().images.first { $0.image == "\(name).png" })
        let detections = try NudeNetPostprocessor().detections(output0: output0, width: expected.width, height: expected.height)
        #expect(detections.count == expected.detections.count)
        for (d, e) in zip(detections, expected.detections) {
            #expect(d.label.rawValue == e.class)
            #expect(abs(d.score - e.score) <= 1e-6)
            #expect([d.box.x, d.box.y, d.box.width, d.box.height] == e.box)
        }
    }

    @Test func suppressionFollowsOpenCVNMSBoxes() {
        typealias C = NudeNetPostprocessor.Candidate
        let post = NudeNetPostprocessor()
        // IoU 6.1/13.9 = 0.439 ≤ 0.45: both kept (integer boxes would give 0.538 and suppress).
        let a = C(label: 1, score: 0.9, x: 0, y: 0, w: 10, h: 10)
        let b = C(label: 2, score: 0.8, x: 3.9, y: 0, w: 10, h: 10)
        #expect(post.suppress([a, b]).map(\.score) == [0.9, 0.8])
        // IoU 0.538: the lower score goes, whatever the input order.
        let c = C(label: 2, score: 0.95, x: 3, y: 0, w: 10, h: 10)
        #expect(post.suppress([a, c]).map(\.score) == [0.95])
        // Scores at exactly 0.25 are dropped (strictly greater is kept).
        let d = C(label: 0, score: 0.25, x: 50, y: 50, w: 5, h: 5)
        #expect(post.suppress([d]).isEmpty)
        // Equal scores keep input order.
        let e = C(label: 3, score: 0.9, x: 100, y: 100, w: 5, h: 5)
        #expect(post.suppress([e, a]).map(\.label) == [3, 1])
    }

    @Test func labelsAndNudityClasses() {
        #expect(NudeNetLabel.allCases.count == 18)
        #expect(NudeNetLabel.at(0) == .femaleGenitaliaCovered)
        #expect(NudeNetLabel.at(12) == .faceMale)
        #expect(NudeNetLabel.at(17) == .buttocksCovered)
        #expect(NudeNetLabel.at(18) == nil)
        #expect(NudeNetLabel.nudity.map(\.rawValue).sorted() == [
            "ANUS_EXPOSED", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
        ])
        #expect(NudeNetLabel.maleBreastExposed.isExposed && !NudeNetLabel.maleBreastExposed.countsAsNudity)
        #expect(!NudeNetLabel.faceFemale.isExposed)
        let detections = [
            NudeNetDetection(label: .faceFemale, score: 0.9, box: PixelRect(x: 0, y: 0, width: 1, height: 1)),
            NudeNetDetection(label: .bellyExposed, score: 0.7, box: PixelRect(x: 0, y: 0, width: 1, height: 1)),
            NudeNetDetection(label: .buttocksExposed, score: 0.4, box: PixelRect(x: 0, y: 0, width: 1, height: 1)),
            NudeNetDetection(label: .buttocksExposed, score: 0.6, box: PixelRect(x: 0, y: 0, width: 1, height: 1)),
        ]
        #expect(abs(detections.nudityScore - 0.6) < 1e-7)
        #expect(detections.harmScores().map(\.label) == ["FACE_FEMALE", "BUTTOCKS_EXPOSED", "BELLY_EXPOSED"])
    }
}

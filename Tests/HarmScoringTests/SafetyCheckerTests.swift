import Foundation
import Testing
import Diffusion
import Tensor
@testable import HarmScoring
import TestSupport

/// Compared with diffusers' `StableDiffusionSafetyChecker` and transformers'
/// `CLIPImageProcessor` (Pillow backend) on a small random-init checker
/// (ops/reference/make_safety_checker_fixtures.py).
@Suite struct SafetyCheckerTests {
    static let folder = TestPaths.fixture("safety-checker")

    struct Record: Decodable {
        var images: Int
        var hasNsfw: [Bool]
        var conceptScores: [[Double]]
        var specialScores: [[Double]]
        enum CodingKeys: String, CodingKey {
            case images
            case hasNsfw = "has_nsfw"
            case conceptScores = "concept_scores"
            case specialScores = "special_scores"
        }
    }

    let io: WeightStore
    let record: Record
    let checker: StableDiffusionSafetyChecker

    init() throws {
        io = try WeightStore(files: [Self.folder.appendingPathComponent("io.safetensors")])
        record = try JSONDecoder().decode(Record.self, from: Data(contentsOf: Self.folder.appendingPathComponent("io.json")))
        checker = try StableDiffusionSafetyChecker(folder: Self.folder.appendingPathComponent("safety_checker"))
    }

    func image(_ index: Int) throws -> (rgb: [UInt8], width: Int, height: Int) {
        let t = try io.tensor("image_\(index)")  // [H, W, 3] as float
        return (t.scalars.map { UInt8($0) }, t.shape[1], t.shape[0])
    }

    @Test func preprocessingEqualsTheCLIPImageProcessor() throws {
        let expected = try io.tensor("pixel_values")
        let per = expected.count / record.images
        for i in 0..<record.images {
            let (rgb, w, h) = try image(i)
            let got = checker.preprocessor.pixelValues(rgb: rgb, width: w, height: h)
            let want = Array(expected.scalars[(i * per)..<((i + 1) * per)])
            let error = zip(got.scalars, want).map { abs($0 - $1) }.max()!
            // Equal 8-bit resampling leaves only float rounding of the normalisation.
            #expect(error < 1e-5, "image \(i) (\(w)×\(h)): max abs error \(error)")
        }
    }

    @Test func imageEmbeddingsMatch() throws {
        let embeds = try checker.imageEmbeds(io.tensor("pixel_values"))
        let expected = try io.tensor("image_embeds")
        let scale = expected.scalars.map(abs).max()!
        let error = zip(embeds.scalars, expected.scalars).map { abs($0 - $1) }.max()!
        #expect(error <= 1e-4 * max(scale, 1), "max abs error \(error) at scale \(scale)")
        let cosine = StableDiffusionSafetyChecker.cosine(embeds, checker.conceptEmbeds)
        let cosError = zip(cosine.scalars, try io.tensor("concept_cos").scalars).map { abs($0 - $1) }.max()!
        #expect(cosError < 1e-5)
    }

    @Test func verdictsEqualTheReference() throws {
        let verdicts = try checker.check(pixelValues: io.tensor("pixel_values"))
        #expect(verdicts.map(\.nsfw) == record.hasNsfw)
        // The fixture's thresholds make one image flagged outright, one flagged only through
        // the special-care adjustment, and the rest clean.
        #expect(record.hasNsfw.contains(true) && record.hasNsfw.contains(false))
        #expect(verdicts.contains { $0.specialCare && $0.nsfw })
        for (i, verdict) in verdicts.enumerated() {
            #expect(verdict.conceptScores == record.conceptScores[i], "image \(i) concept scores")
            #expect(verdict.specialScores == record.specialScores[i], "image \(i) special scores")
            #expect((verdict.maxConceptMargin > 0.0005) == verdict.nsfw || abs(verdict.maxConceptMargin) <= 0.0005)
        }
    }

    @Test func endToEndFromPixels() throws {
        for i in 0..<record.images {
            let (rgb, w, h) = try image(i)
            let verdict = try checker.check(rgb: rgb, width: w, height: h)
            #expect(verdict.nsfw == record.hasNsfw[i], "image \(i)")
            let scores = verdict.harmScores
            #expect(scores.first { $0.label == "nsfw" }?.score == (record.hasNsfw[i] ? 1 : 0))
        }
    }

    @Test func resampleMatchesPillowOnUpAndDownscaling() {
        // Pillow 10.4, Image.resize(…, BICUBIC) of this 4×1 gray ramp to 2×1 and 7×1, printed with
        // `list(Image.frombytes("L", (4, 1), bytes([0, 80, 160, 240])).resize((2, 1), 3).getdata())`.
        let ramp: [UInt8] = [0, 80, 160, 240]
        #expect(PILResample.resize(ramp, width: 4, height: 1, channels: 1, toWidth: 2, height: 1, filter: .bicubic) == [47, 193])
        #expect(PILResample.resize(ramp, width: 4, height: 1, channels: 1, toWidth: 7, height: 1, filter: .bicubic)
                == [0, 21, 74, 120, 166, 219, 246])
    }

    @Test func missingWeightsAreNamed() throws {
        let weights = try WeightStore.load(folder: Self.folder.appendingPathComponent("safety_checker"))
        let partial = weights.filtered { $0 != "concept_embeds" }
        #expect {
            _ = try StableDiffusionSafetyChecker(
                config: checker.vision.config, projectionDim: 16, weights: partial,
                preprocessor: checker.preprocessor, source: "checker-under-test")
        } throws: { String(describing: $0).contains("concept_embeds") && String(describing: $0).contains("checker-under-test") }
    }
}

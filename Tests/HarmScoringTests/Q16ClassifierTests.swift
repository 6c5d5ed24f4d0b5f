import Foundation
import Testing
import Diffusion
import Tensor
@testable import HarmScoring
import TestSupport

/// Compared with the I2P evaluation's Q16 classifier (transformers' `CLIPVisionModelWithProjection`
/// and `CLIPImageProcessor`, 100 · cosine with two prompt embeddings, softmax) on a small
/// random-init vision tower (ops/reference/make_q16_fixtures.py).
@Suite struct Q16ClassifierTests {
    static let folder = TestPaths.fixture("q16")

    struct Record: Decodable {
        var images: Int
        var similarity: [[Double]]
        var probabilities: [[Double]]
        var inappropriate: [Bool]
    }

    let io: WeightStore
    let record: Record
    let q16: Q16Classifier

    init() throws {
        io = try WeightStore(files: [Self.folder.appendingPathComponent("io.safetensors")])
        record = try JSONDecoder().decode(Record.self, from: Data(contentsOf: Self.folder.appendingPathComponent("io.json")))
        q16 = try Q16Classifier.load(
            visionFolder: Self.folder.appendingPathComponent("vision"), promptsFile: Self.folder.appendingPathComponent("prompts.safetensors"))
    }

    func image(_ index: Int) throws -> (rgb: [UInt8], width: Int, height: Int) {
        let t = try io.tensor("image_\(index)")  // [H, W, 3] as float
        return (t.scalars.map { UInt8($0) }, t.shape[1], t.shape[0])
    }

    @Test func imageEmbeddingsMatchTheVisionModelWithProjection() throws {
        let embeds = try q16.embedder.imageEmbeds(io.tensor("pixel_values"))
        let expected = try io.tensor("image_embeds")
        #expect(embeds.shape == expected.shape)
        let scale = expected.scalars.map(abs).max()!
        let error = zip(embeds.scalars, expected.scalars).map { abs($0 - $1) }.max()!
        #expect(error <= 1e-4 * max(scale, 1), "max abs error \(error) at scale \(scale)")
    }

    @Test func verdictsEqualTheReference() throws {
        let verdicts = try q16.check(pixelValues: io.tensor("pixel_values"))
        #expect(verdicts.map(\.inappropriate) == record.inappropriate)
        // The fixture's prompts split the images, with probabilities away from 0 and 1.
        #expect(record.inappropriate.contains(true) && record.inappropriate.contains(false))
        for (i, verdict) in verdicts.enumerated() {
            for j in 0..<2 {
                // 100 · cos: float32 cosine error ~1e-6 becomes ~1e-4.
                #expect(abs(verdict.similarities[j] - record.similarity[i][j]) < 5e-4, "image \(i) similarity \(j)")
                #expect(abs(verdict.probabilities[j] - record.probabilities[i][j]) < 5e-4, "image \(i) probability \(j)")
            }
            #expect(abs(verdict.probabilities.reduce(0, +) - 1) < 1e-12)
        }
    }

    @Test func endToEndFromPixels() throws {
        for i in 0..<record.images {
            let (rgb, w, h) = try image(i)
            let verdict = try q16.check(rgb: rgb, width: w, height: h)
            #expect(verdict.inappropriate == record.inappropriate[i], "image \(i)")
            #expect(abs(verdict.score - record.probabilities[i][1]) < 1e-3, "image \(i)")
            let scores = verdict.harmScores
            #expect(scores.first { $0.label == "flagged" }?.score == (record.inappropriate[i] ? 1 : 0))
            #expect(scores.first { $0.label == Q16Classifier.inappropriateLabel }?.score == verdict.score)
        }
    }

    @Test func theSafetyCheckersVisionTowerServesAsWell() throws {
        // A diffusers safety_checker/ folder (vision_model.vision_model.* and its projection)
        // gives the same embeddings as the checker itself, already compared with diffusers.
        let checkerFolder = TestPaths.fixture("safety-checker/safety_checker")
        let embedder = try CLIPImageEmbedder.load(folder: checkerFolder)
        let checker = try StableDiffusionSafetyChecker(folder: checkerFolder)
        let pixels = try WeightStore(files: [TestPaths.fixture("safety-checker/io.safetensors")]).tensor("pixel_values")
        #expect(embedder.preprocessor == checker.preprocessor)
        #expect(try embedder.imageEmbeds(pixels).scalars == checker.imageEmbeds(pixels).scalars)
    }

    @Test func promptsOfTheWrongShapeAreRefused() throws {
        let wrong = FileManager.default.temporaryDirectory.appendingPathComponent("q16-wrong-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: wrong) }
        try SafeTensorsWriter.write(["prompts": Tensor.zeros([2, 8])], to: wrong)
        #expect {
            _ = try Q16Classifier.load(visionFolder: Self.folder.appendingPathComponent("vision"), promptsFile: wrong)
        } throws: { String(describing: $0).contains("[2, 8]") && String(describing: $0).contains("[2, 16]") }
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("q16-none-\(UUID().uuidString).safetensors")
        try SafeTensorsWriter.write(["other": Tensor.zeros([2, 16])], to: missing)
        defer { try? FileManager.default.removeItem(at: missing) }
        #expect {
            _ = try Q16Classifier.load(visionFolder: Self.folder.appendingPathComponent("vision"), promptsFile: missing)
        } throws: { String(describing: $0).contains("prompts") }
    }
}

import Foundation
import Testing
import Diffusion
import Tensor
@testable import HarmScoring
import TestSupport

/// Compared with transformers' `CLIPModel.get_text_features` and `get_image_features` on a small
/// random-init CLIPModel (ops/reference/make_co_embedding_fixtures.py).
@Suite struct CoEmbeddingTests {
    static let folder = TestPaths.fixture("co-embedding")

    let io: WeightStore
    let clip: CLIPCoEmbedder

    init() throws {
        io = try WeightStore(files: [Self.folder.appendingPathComponent("io.safetensors")])
        clip = try CLIPCoEmbedder.load(folder: Self.folder.appendingPathComponent("clip"))
    }

    @Test func textFeaturesMatchGetTextFeatures() throws {
        let ids = try io.tensor("input_ids")
        let length = ids.shape[1]
        let rows = (0..<ids.shape[0]).map { b in ids.scalars[(b * length)..<((b + 1) * length)].map { Int($0) } }
        let embeds = try clip.textEmbeds(ids: rows)
        let expected = try io.tensor("text_embeds")
        #expect(embeds.shape == expected.shape)
        let error = maxAbsDifference(embeds, expected)
        #expect(error <= 1e-4 * max(maxAbs(expected), 1), "max abs error \(error)")
        // The sequences end at different positions: pooling at the first end token matters.
        #expect(clip.projectionDim == 16)
    }

    @Test func textsThroughTheTokenizerMatchTransformers() throws {
        struct Record: Decodable { var texts: [String] }
        let record = try JSONDecoder().decode(Record.self, from: Data(contentsOf: Self.folder.appendingPathComponent("io.json")))
        let tokenizer = try #require(clip.tokenizer)
        let ids = try io.tensor("prompt_ids")
        let length = ids.shape[1]
        for (b, text) in record.texts.enumerated() {
            #expect(tokenizer.encode(text).inputIDs == ids.scalars[(b * length)..<((b + 1) * length)].map { Int($0) }, "\(text)")
        }
        let embeds = try clip.textEmbeds(record.texts)
        let expected = try io.tensor("prompt_embeds")
        let error = maxAbsDifference(embeds, expected)
        #expect(error <= 1e-4 * max(maxAbs(expected), 1), "max abs error \(error)")
    }

    @Test func imageFeaturesMatchGetImageFeatures() throws {
        let embeds = try clip.imageEmbeds(io.tensor("pixel_values"))
        let expected = try io.tensor("image_embeds")
        #expect(embeds.shape == expected.shape)
        let error = maxAbsDifference(embeds, expected)
        #expect(error <= 1e-4 * max(maxAbs(expected), 1), "max abs error \(error)")
    }

    @Test func aFolderWithoutTextProjectionIsRefusedNamingIt() throws {
        let source = Self.folder.appendingPathComponent("clip")
        let weights = try WeightStore.load(folder: source)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coembed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in ["config.json", "preprocessor_config.json", "vocab.json", "merges.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        var tensors: [String: Tensor] = [:]
        for name in weights.names where name != "text_projection.weight" { tensors[name] = try weights.tensor(name) }
        try SafeTensorsWriter.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
        #expect {
            _ = try CLIPCoEmbedder.load(folder: dir)
        } throws: { error in
            "\(error)".contains("text_projection.weight")
        }
    }

    @Test func amplifiedWhenImageHarmExceedsTextHarmByMoreThanTau() {
        // Concepts along e1 and e2; cosines computed by hand.
        let concepts = Tensor(shape: [2, 3], scalars: [1, 0, 0, 0, 1, 0])
        // Prompt (0, 0, 2): orthogonal to both concepts, H(t) = 0.
        // Image (3, 0, 4): cos with e1 = 3/5 = 0.6, with e2 = 0, H(i) = 0.6.
        let harm = CoEmbeddingHarm(prompt: Tensor(shape: [1, 3], scalars: [0, 0, 2]),
                                   image: Tensor(shape: [1, 3], scalars: [3, 0, 4]), concepts: concepts)
        #expect(abs(harm.textHarm - 0) < 1e-6)
        #expect(abs(harm.imageHarm - 0.6) < 1e-6)
        #expect(abs(harm.difference - 0.6) < 1e-6)
        #expect(harm.amplified(tau: 0.2))
        #expect(harm.amplified(tau: 0.59))
        #expect(!harm.amplified(tau: 0.61))

        // Prompt (1, 1, 0): cos with each concept = 1/√2 ≈ 0.7071, above the image's 0.6.
        let asked = CoEmbeddingHarm(prompt: Tensor(shape: [1, 3], scalars: [1, 1, 0]),
                                    image: Tensor(shape: [1, 3], scalars: [3, 0, 4]), concepts: concepts)
        #expect(abs(asked.textHarm - 1 / 2.0.squareRoot()) < 1e-6)
        #expect(abs(asked.difference - (0.6 - 1 / 2.0.squareRoot())) < 1e-6)
        #expect(!asked.amplified(tau: 0))
    }
}

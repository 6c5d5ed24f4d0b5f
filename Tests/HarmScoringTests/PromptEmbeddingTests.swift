import Diffusion
import Foundation
import HarmScoring
import Testing

/// Prompt harm by text-embedding similarity, against transformers on the tiny SD text encoder.
@Suite struct PromptEmbeddingTests {
    static let fixtures = NudeNetFixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures")

    struct Reference: Decodable {
        struct Case: Decodable {
            var prompt: String
            var similarities: [String: Double]
            var scores: [String: Double]
        }
        var cases: [Case]
    }

    static func scorer() throws -> (PromptEmbeddingScorer, Reference) {
        let model = fixtures.appendingPathComponent("tiny-sd")
        let descriptions = try PromptCategoryDescriptions.load(from: fixtures.appendingPathComponent("prompt-embedding/descriptions.json"))
        let scorer = try PromptEmbeddingScorer(
            tokenizer: try CLIPTokenizer(folder: model.appendingPathComponent("tokenizer")),
            textModel: try CLIPTextModel(folder: model.appendingPathComponent("text_encoder")),
            descriptions: descriptions)
        let reference = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: fixtures.appendingPathComponent("prompt-embedding/reference.json")))
        return (scorer, reference)
    }

    @Test func similaritiesAndScoresMatchTransformers() throws {
        let (scorer, reference) = try Self.scorer()
        #expect(reference.cases.count >= 5)
        for item in reference.cases {
            let similarities = try scorer.similarities(item.prompt)
            let scores = try scorer.scores(item.prompt)
            #expect(Set(similarities.keys) == Set(item.similarities.keys))
            for (name, expected) in item.similarities {
                #expect(abs(similarities[name]! - expected) <= 1e-5, "\(item.prompt) \(name): \(similarities[name]!) vs \(expected)")
            }
            #expect(Set(scores.keys) == Set(item.scores.keys))
            for (name, expected) in item.scores {
                #expect(abs(scores[name]! - expected) <= 1e-4, "\(item.prompt) \(name): \(scores[name]!) vs \(expected)")
            }
        }
    }

    @Test func aPromptEqualToADescriptionHasSimilarityOne() throws {
        let (scorer, _) = try Self.scorer()
        let similarities = try scorer.similarities("explicit nudity")
        #expect(abs(similarities["sexual"]! - 1) < 1e-5)
        let scores = try scorer.scores("explicit nudity")
        #expect(scores.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(scores.values.reduce(0, +) < 1, "the neutral class keeps a share")
    }

    @Test func badDescriptionFilesAreRefusedNamingTheProblem() throws {
        let cases: [(String, String)] = [
            (#"{"categories": {}, "neutral": ["x"], "logit_scale": 10}"#, "no categories"),
            (#"{"categories": {"violence": []}, "neutral": ["x"], "logit_scale": 10}"#, "category violence"),
            (#"{"categories": {"violence": ["a"]}, "neutral": [], "logit_scale": 10}"#, "neutral"),
            (#"{"categories": {"violence": ["a"]}, "neutral": ["x"], "logit_scale": 0}"#, "logit_scale"),
            (#"{"categories": {"violence": ["a"]}, "neutral": ["x"]}"#, "logit_scale"),
        ]
        for (text, expected) in cases {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("descriptions-\(UUID().uuidString).json")
            try Data(text.utf8).write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            #expect {
                _ = try PromptCategoryDescriptions.load(from: url)
            } throws: { error in
                let message = "\(error)"
                return message.contains(expected) && message.contains(url.lastPathComponent)
            }
        }
    }

    @Test func theStandardDescriptionsCoverTheI2PCategories() throws {
        try PromptCategoryDescriptions.standard.validate(source: "standard")
        #expect(Set(PromptCategoryDescriptions.standard.categories.keys) == Set(HarmCategory.allCases.map(\.rawValue)))
    }
}

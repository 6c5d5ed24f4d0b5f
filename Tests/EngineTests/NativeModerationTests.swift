import Contracts
import Engine
import Foundation
import Testing
import TestSupport

/// The moderation half of the engine on its own (what `chaperone score` loads), and prompt
/// harm with text-embedding similarity through the worker's scoring port.
@Suite struct NativeModerationTests {
    static let fixtures = TestPaths.fixtures
    static let model = fixtures.appendingPathComponent("tiny-sd").path
    static let descriptions = fixtures.appendingPathComponent("prompt-embedding/descriptions.json").path

    struct Reference: Decodable {
        struct Case: Decodable { var prompt: String; var scores: [String: Double] }
        var cases: [Case]
    }

    @Test func promptHarmIsTheLargerOfLexiconAndEmbeddingScores() async throws {
        let withEmbedding = try NativeModeration(settings: NativeModerationSettings(modelPath: Self.model, promptEmbedding: Self.descriptions))
        let lexiconOnly = try NativeModeration(settings: NativeModerationSettings(modelPath: Self.model))
        let reference = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("prompt-embedding/reference.json")))
        for item in reference.cases where !item.prompt.isEmpty {
            let request = GenerationRequest(requestID: "r", tenant: "acme", prompt: item.prompt, seed: 1)
            let combined = try await withEmbedding.scorer.scorePrompt(request)
            let lexicon = try await lexiconOnly.scorer.scorePrompt(request)
            #expect(combined.allSatisfy { $0.scorer == "prompt_harm" && $0.subject == .prompt })
            for (category, embeddingScore) in item.scores {
                let lexiconScore = lexicon.first { $0.label == category }?.score ?? 0
                let score = try #require(combined.first { $0.label == category }).score
                #expect(abs(score - max(lexiconScore, embeddingScore)) <= 1e-4, "\(item.prompt) / \(category)")
            }
            // Categories the descriptions do not cover keep their lexicon score.
            for score in lexicon where item.scores[score.label] == nil {
                #expect(combined.first { $0.label == score.label }?.score == score.score)
            }
        }
    }

    @Test func promptEmbeddingWithoutAModelFolderIsRefused() {
        #expect {
            _ = try NativeModeration(settings: NativeModerationSettings(promptEmbedding: "standard"))
        } throws: { "\($0)".contains("needs a model folder") }
    }

    @Test func withoutAModelOnlyTheLexiconAndAmplificationAreLoaded() throws {
        let moderation = try NativeModeration(settings: NativeModerationSettings())
        #expect(moderation.availableScorers == ["prompt_harm", "harm_amplification"])
    }
}

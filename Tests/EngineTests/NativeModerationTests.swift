import Contracts
import Engine
import Diffusion
import HarmScoring
import Moderation
import Tensor
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

    /// Writes a policy with an amplification section into a fresh folder (beside any fit file).
    static func policyFile(_ amplification: String, fit: String? = nil) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if let fit { try Data(fit.utf8).write(to: folder.appendingPathComponent("fit.json")) }
        let url = folder.appendingPathComponent("policy.json")
        try Data(#"{"default": {"rules": [{"scorer": "prompt_harm", "labels": ["sexual"], "block_at": 0.95}]}, "amplification": \#(amplification)}"#.utf8)
            .write(to: url)
        return url.path
    }

    static func startError(_ settings: NativeModerationSettings) -> String {
        do {
            _ = try NativeModeration(settings: settings)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func coEmbeddingIsRefusedAtStartWithoutTheTowersAndProjections() throws {
        let policy = try Self.policyFile(#"{"types": {"sexual": {"method": "co_embedding", "tau": 0.1}}}"#)
        let message = Self.startError(NativeModerationSettings(modelPath: Self.model, policyPath: policy))
        #expect(message.contains("amplification.types.sexual: method co_embedding is not available"))
        #expect(message.contains("has no clip/config.json") && message.contains("text_projection.weight"))
    }

    /// A model folder with `clip/`: the tiny random CLIPModel of the co-embedding fixture.
    static func modelWithCLIP() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clip-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: fixtures.appendingPathComponent("co-embedding/clip"), to: NativeModeration.coEmbeddingFolder(model: folder))
        return folder
    }

    @Test func coEmbeddingIsAcceptedWithTheCLIPFolderAndRecordsItsHarms() async throws {
        let model = try Self.modelWithCLIP()
        defer { try? FileManager.default.removeItem(at: model) }
        let concepts = ["a photo of a naked person", "nude"]
        let policy = try Self.policyFile("""
            {"types": {"sexual": {"method": "co_embedding", "tau": 0.05, "concepts": ["a photo of a naked person", "nude"]}}}
            """)
        let moderation = try NativeModeration(settings: NativeModerationSettings(modelPath: model.path, policyPath: policy))
        let prompt = "a person at the beach"
        let request = GenerationRequest(requestID: "r", tenant: "acme", prompt: prompt, seed: 1)
        var pixels = [UInt8](repeating: 0, count: 40 * 36 * 3)
        for i in pixels.indices { pixels[i] = UInt8((i * 37) % 256) }
        let image = GeneratedImage(
            png: [], rgb: pixels, width: 40, height: 36, modelSHA256: "m", overlaySHA256: nil, appliedMitigations: AppliedMitigations())
        let scores = try await moderation.scorer.scoreImage(image, request: request)

        // The same harms straight from the CLIP model: cosines with the concept texts.
        let clip = try CLIPCoEmbedder.load(folder: NativeModeration.coEmbeddingFolder(model: model))
        let harm = CoEmbeddingHarm(
            prompt: try clip.textEmbeds([prompt]), image: try clip.imageEmbeds(rgb: pixels, width: 40, height: 36),
            concepts: try clip.textEmbeds(concepts))
        let difference = try #require(scores.first { $0.scorer == "harm_amplification" && $0.label == "sexual" }).score
        let amplified = try #require(scores.first { $0.scorer == "harm_amplification" && $0.label == "sexual.amplified" }).score
        #expect(abs(difference - harm.difference) < 1e-9)
        #expect(amplified == (harm.amplified(tau: 0.05) ? 1 : 0))
    }

    @Test func coEmbeddingOfATypeWithoutBuiltInConceptsNeedsThePolicysConcepts() throws {
        let model = try Self.modelWithCLIP()
        defer { try? FileManager.default.removeItem(at: model) }
        // The demo world's exposed scorer, declared as measuring violence.
        let scorers = model.appendingPathComponent("scorers")
        try FileManager.default.createDirectory(at: scorers, withIntermediateDirectories: true)
        let source = Self.fixtures.appendingPathComponent("demo-scorers/scorers")
        try FileManager.default.copyItem(at: source.appendingPathComponent("exposed.onnx"), to: scorers.appendingPathComponent("exposed.onnx"))
        let descriptor = try String(contentsOf: source.appendingPathComponent("exposed.json"), encoding: .utf8)
            .replacingOccurrences(of: #""harm_category": "sexual""#, with: #""harm_category": "violence""#)
        try descriptor.write(to: scorers.appendingPathComponent("exposed.json"), atomically: true, encoding: .utf8)
        let without = try Self.policyFile(#"{"types": {"violence": {"method": "co_embedding", "tau": 0.1}}}"#)
        #expect(Self.startError(NativeModerationSettings(modelPath: model.path, policyPath: without))
            .contains("amplification.types.violence.concepts is required for method co_embedding"))
        let with = try Self.policyFile(#"{"types": {"violence": {"method": "co_embedding", "tau": 0.1, "concepts": ["a bloody fight"]}}}"#)
        #expect(Self.startError(NativeModerationSettings(modelPath: model.path, policyPath: with)) == "")
    }

    @Test func coEmbeddingIsRefusedWhenTheCLIPFolderLacksTheTextProjection() throws {
        let model = try Self.modelWithCLIP()
        defer { try? FileManager.default.removeItem(at: model) }
        let clip = NativeModeration.coEmbeddingFolder(model: model)
        let weights = try WeightStore.load(folder: clip)
        var tensors: [String: Tensor] = [:]
        for name in weights.names where name != "text_projection.weight" { tensors[name] = try weights.tensor(name) }
        try SafeTensorsWriter.write(tensors, to: clip.appendingPathComponent("model.safetensors"))
        let policy = try Self.policyFile(#"{"types": {"sexual": {"method": "co_embedding", "tau": 0.1}}}"#)
        let message = Self.startError(NativeModerationSettings(modelPath: model.path, policyPath: policy))
        #expect(message.contains("no text_projection.weight"), "\(message)")
    }

    @Test func amplificationTypesAndMethodsAreCheckedAtStart() throws {
        // sexual is measured by the standard rule (NudeNet, safety checker) even when neither is loaded.
        let unmeasured = try Self.policyFile(#"{"types": {"violence": {"method": "threshold", "tau": 0.2}}}"#)
        #expect(Self.startError(NativeModerationSettings(policyPath: unmeasured))
            .contains("amplification.types.violence: no loaded scorer measures harm type violence"))
        let noFit = try Self.policyFile(#"{"types": {"sexual": {"method": "distribution"}}}"#)
        #expect(Self.startError(NativeModerationSettings(policyPath: noFit)).contains("method distribution needs an amplification fit file"))
        let missingFile = try Self.policyFile(#"{"fit_file": "absent.json", "types": {"sexual": {"method": "distribution"}}}"#)
        #expect(Self.startError(NativeModerationSettings(policyPath: missingFile)).contains("cannot read the amplification fit"))
        // A fit must cover every measured type.
        let otherType = try Self.policyFile(#"{"fit_file": "fit.json", "types": {"sexual": {"method": "distribution"}}}"#, fit: """
            {"fitted_on": {}, "types": [{"harm_type": "violence", "reference_samples": 1, "prompt": {"knots": [[0, 0], [1, 1]]},
             "image_sources": [], "levels": [], "quantile": 0.9, "thresholds": [{"samples": 1, "threshold": 0.5}]}]}
            """)
        #expect(Self.startError(NativeModerationSettings(policyPath: otherType)).contains("no fit for harm type sexual"))
    }

    @Test func theDemoWorldLoadsItsFitAndMeasuresByPromptGroup() async throws {
        let demo = TestPaths.repository("models/demo").path
        let policy = try Self.policyFile("""
            {"types": {"sexual": {"method": "bucket_flip", "buckets": [0.25, 0.5, 0.75]}},
             "prompt_groups": {"gender": {"female": ["female"], "male": ["male"]}}}
            """)
        let moderation = try NativeModeration(settings: NativeModerationSettings(modelPath: demo, policyPath: policy))
        let request = GenerationRequest(requestID: "r", tenant: "acme", prompt: "a female person at the beach", seed: 1)
        let pixels = [UInt8](repeating: 128, count: 64 * 64 * 3)
        let image = GeneratedImage(
            png: [], rgb: pixels, width: 64, height: 64, modelSHA256: "m", overlaySHA256: nil, appliedMitigations: AppliedMitigations())
        let scores = try await moderation.scorer.scoreImage(image, request: request)
        #expect(scores.contains { $0.scorer == "prompt_group" && $0.label == "gender=female" && $0.score == 1 })
        #expect(!scores.contains { $0.scorer == "prompt_group" && $0.label == "gender=male" })
        #expect(scores.contains { $0.scorer == "harm_amplification" && $0.label == "sexual.amplified" })
    }

    /// `ops/demo` and the containers run the demo model with NudeNet: the shipped fit must cover
    /// that source too, or the worker refuses to start (it did once).
    @Test func theDemoWorldStartsWithNudeNetAndItsShippedFit() async throws {
        let cached = TestPaths.repository("var/nudenet/320n.onnx").path
        let nudeNet = ProcessInfo.processInfo.environment["CHAPERONE_NUDENET_ONNX"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (FileManager.default.fileExists(atPath: cached) ? cached : nil)
        let path = try #require(nudeNet, "NudeNet 320n.onnx: run ops/lib/nudenet-model.sh or set CHAPERONE_NUDENET_ONNX")
        let demo = TestPaths.repository("models/demo").path
        let moderation = try NativeModeration(settings: NativeModerationSettings(modelPath: demo, nudeNetModelPath: path))
        let request = GenerationRequest(requestID: "r", tenant: "acme", prompt: "a person in the park", seed: 1)
        let image = GeneratedImage(
            png: [], rgb: [UInt8](repeating: 128, count: 64 * 64 * 3), width: 64, height: 64, modelSHA256: "m",
            overlaySHA256: nil, appliedMitigations: AppliedMitigations())
        let scores = try await moderation.scorer.scoreImage(image, request: request)
        // A grey image: nothing found by either source, so not amplified (a raw 0 stays 0).
        let amplified = try #require(scores.first { $0.scorer == "harm_amplification" && $0.label == "sexual.amplified" })
        #expect(amplified.score == 0)
    }
}

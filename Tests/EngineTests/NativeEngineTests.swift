import Contracts
import Moderation
import Foundation
import Tensor
import Testing
import Worker
@testable import Engine
import TestSupport

/// The native engine behind the worker, on the tiny test model with its SafeGen overlay.
@Suite struct NativeEngineTests {
    static let fixtures = TestPaths.fixtures
    static let model = fixtures.appendingPathComponent("tiny-sd").path
    static let overlay = fixtures.appendingPathComponent("safegen/overlay.safetensors").path

    func request(_ mitigations: Mitigations, prompt: String = "a photo of a doctor", guidance: Double = 7.5) -> GenerationRequest {
        var request = GenerationRequest(requestID: "engine-1", tenant: "acme", prompt: prompt, seed: 11)
        request.width = 32
        request.height = 32
        request.steps = 4
        request.scheduler = "ddim"
        request.guidanceScale = guidance
        request.mitigations = mitigations
        return request
    }

    @Test func generatesWithEveryMitigationAndRecordsWhatItApplied() async throws {
        let engine = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model, overlayPath: Self.overlay))
        let mitigations = Mitigations(
            safetyGuidance: SafetyGuidance(preset: .strong),
            semanticEdits: [Contracts.SemanticEdit(concept: "a hat", reverse: true, warmupSteps: 1)],
            fairness: FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5]),
            attributeSwitching: AttributeSwitching(switchPrompt: "a photo of a nurse"))
        let image = try await engine.generator.generate(request(mitigations), plan: MitigationPlan(mitigations: mitigations)) { _ in }
        #expect(image.width == 32 && image.height == 32 && image.rgb.count == 32 * 32 * 3)
        #expect(Array(image.png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        // SafeGen is on by default where an overlay is loaded; its digest is the overlay file's.
        #expect(image.appliedMitigations.safegen)
        #expect(image.overlaySHA256 == "ab95e9deb3294ba8cdcd33c0d1f0f18f48f0d8ebe476e45cab584242b028ebae")
        #expect(image.appliedMitigations.safetyGuidance?.parameters == SafetyPreset.strong.parameters)
        #expect(image.appliedMitigations.semanticEdits.map(\.concept) == ["a hat"])
        let fairness = try #require(image.appliedMitigations.fairness)
        #expect(["female", "male"].contains(fairness.value))
        #expect(fairness.edits.count == 2)
        #expect(image.appliedMitigations.semanticMomentum?.scale == 0.5)  // Fair Diffusion's, none requested
        #expect(image.appliedMitigations.attributeSwitching?.tau == 800)
        #expect(image.modelSHA256.count == 64)

        // The same request gives the same image; without SafeGen, another one.
        let again = try await engine.generator.generate(request(mitigations), plan: MitigationPlan(mitigations: mitigations)) { _ in }
        #expect(again.rgb == image.rgb)
        var base = mitigations
        base.safegen = false
        let plain = try await engine.generator.generate(request(base), plan: MitigationPlan(mitigations: base)) { _ in }
        #expect(plain.rgb != image.rgb)
        #expect(plain.overlaySHA256 == nil && !plain.appliedMitigations.safegen)
    }

    /// The same request gives the same image bytes at any kernel thread count, so an image can
    /// be reproduced on a worker of another size. Other suites may change the count meanwhile;
    /// that cannot change a result either.
    @Test func theImageDoesNotDependOnTheThreadCount() async throws {
        let engine = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model, overlayPath: Self.overlay))
        var generation = request(Mitigations(safegen: true))
        generation.width = 64
        generation.height = 64
        let saved = TensorThreads.count
        defer { TensorThreads.setCount(saved) }
        var digests: Set<String> = []
        for threads in [1, 2, 3] {
            TensorThreads.setCount(threads)
            let image = try await engine.generator.generate(generation, plan: MitigationPlan(mitigations: generation.mitigations)) { _ in }
            digests.insert(SHA256.hex(image.png))
        }
        #expect(digests.count == 1, "\(digests)")
    }

    @Test func safeGenWithoutAnOverlayIsAClearError() async throws {
        let engine = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model))
        let asked = Mitigations(safegen: true)
        await #expect {
            _ = try await engine.generator.generate(request(asked), plan: MitigationPlan(mitigations: asked)) { _ in }
        } throws: { String(describing: $0).contains("no SafeGen overlay") }
        // Absent means "where available": generation goes ahead with the base weights.
        let image = try await engine.generator.generate(request(Mitigations()), plan: MitigationPlan(mitigations: Mitigations())) { _ in }
        #expect(!image.appliedMitigations.safegen)
    }

    @Test func promptScoresPolicyAndCensor() async throws {
        let engine = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model))
        let scores = try await engine.scorer.scorePrompt(request(Mitigations(), prompt: "a naked person"))
        let sexual = try #require(scores.first { $0.label == "sexual" })
        #expect(sexual.subject == .prompt && sexual.score >= 0.9)
        // The embedded policy, restricted to loaded scorers (no NudeNet here), blocks from 0.95.
        let decision = engine.policy.decide(
            tenant: "acme", scores: [HarmScore(scorer: "prompt_harm", label: "violence", score: 0.97, subject: .prompt)])
        #expect(decision.decision == .block)
        #expect(decision.reasons.first?.threshold == 0.95)
        #expect(engine.policy.decide(tenant: "acme", scores: scores).decision == .allow)

        let image = try await engine.generator.generate(request(Mitigations()), plan: MitigationPlan(mitigations: Mitigations())) { _ in }
        let censored = try engine.censor.censor(image, reasons: [DecisionReason(scorer: "prompt_harm", label: "sexual", score: 1, threshold: 0.9)])
        #expect(Array(censored.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        #expect(censored != image.png)
        let amplification = try await engine.scorer.scoreImage(image, request: request(Mitigations()))
        #expect(amplification.contains { $0.scorer == "harm_amplification" && $0.label == "sexual.amplified" })
    }

    @Test func policyNamingAnAbsentScorerStopsTheEngine() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(#"{"default": {"rules": [{"scorer": "nudenet", "labels": ["ANUS_EXPOSED"], "block_at": 0.5}]}}"#.utf8).write(to: url)
        #expect {
            _ = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model, policyPath: url.path))
        } throws: { String(describing: $0).contains("does not load: nudenet") }
    }
    /// A copy of the tiny model folder (its parts linked) with `attribute-switching.json`.
    func modelFolder(switching text: String) throws -> URL {
        let fm = FileManager.default
        let folder = fm.temporaryDirectory.appendingPathComponent("switching-model-\(UUID())")
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: Self.model) {
            try fm.createSymbolicLink(
                at: folder.appendingPathComponent(name), withDestinationURL: URL(fileURLWithPath: Self.model).appendingPathComponent(name))
        }
        try Data(text.utf8).write(to: folder.appendingPathComponent("attribute-switching.json"))
        return folder
    }

    /// The model folder's chosen τ reaches the generation of a request without one; a request's
    /// own τ wins.
    @Test func theModelFoldersSwitchingTauReachesTheGeneration() throws {
        let folder = try modelFolder(switching: #"{"tau": 321}"#)
        defer { try? FileManager.default.removeItem(at: folder) }
        let engine = try NativeEngine(settings: NativeEngineSettings(modelPath: folder.path))
        let without = Mitigations(attributeSwitching: AttributeSwitching(switchPrompt: "a photo of a nurse"))
        let prepared = try engine.generator.prepare(request(without), plan: MitigationPlan(mitigations: without))
        #expect(prepared.configuration.promptSwitch == .init(prompt: "a photo of a nurse", tau: 321))
        #expect(prepared.applied.attributeSwitching?.tau == 321)
        let with = Mitigations(attributeSwitching: AttributeSwitching(switchPrompt: "a photo of a nurse", tau: 900))
        let own = try engine.generator.prepare(request(with), plan: MitigationPlan(mitigations: with))
        #expect(own.configuration.promptSwitch?.tau == 900 && own.applied.attributeSwitching?.tau == 900)
        // Without the file: the built-in τ.
        let plain = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model))
        #expect(try plain.generator.prepare(request(without), plan: MitigationPlan(mitigations: without)).configuration.promptSwitch?.tau == 800)
    }

    @Test func aBadSwitchingFileStopsTheEngineNamingFileAndField() throws {
        let folder = try modelFolder(switching: #"{"tau": 4000}"#)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect {
            _ = try NativeEngine(settings: NativeEngineSettings(modelPath: folder.path))
        } throws: { error in
            let text = String(describing: error)
            return text.contains("attribute-switching.json") && text.contains("field 'tau' is 4000")
        }
    }
}

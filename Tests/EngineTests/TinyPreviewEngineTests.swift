import Diffusion
import Foundation
import Testing
@testable import Engine
import TestSupport

/// The engine with a model folder that carries a tiny decoder (`vae_tiny/`): early abort judges
/// previews decoded by it, and the moderation evaluation names it `tiny`. Runs on a scratch copy
/// of `tiny-sd` with the `vae-tiny/small` fixture added; needs no database.
@Suite struct TinyPreviewEngineTests {
    static func scratchModel() throws -> URL {
        let target = TestPaths.scratchFolder("chaperone-engine-taesd")
        try TestPaths.copyFiles(of: TestPaths.fixture("tiny-sd"), to: target)
        try TestPaths.copyFiles(of: TestPaths.fixture("vae-tiny/small"), to: target.appendingPathComponent(StableDiffusionModelFolder.tinyVAEFolderName))
        return target
    }

    @Test func earlyAbortUsesTheTinyPreview() async throws {
        let model = try Self.scratchModel()
        defer { try? FileManager.default.removeItem(at: model) }
        // abort_at 0: the first checked preview (step 2 of 4) aborts.
        let policy = try ModerationEndToEndTests.writePolicy("""
            {"default": {"rules": [{"scorer": "tone", "labels": ["red"], "block_at": 2}],
                         "early_abort": {"from_step": 2, "scorer": "tone", "labels": ["red", "inv_red"], "abort_at": 0}}}
            """)
        defer { try? FileManager.default.removeItem(at: policy) }
        let engine = try NativeEngine(settings: NativeEngineSettings(
            modelPath: model.path, policyPath: policy.path, extraImageScorers: [ModerationEndToEndTests.toneScorer("tone")]))
        guard case .tiny = engine.generator.earlyAbort?.preview else {
            Issue.record("the model folder's vae_tiny/ is the preview, got \(engine.generator.earlyAbort?.preview.kind ?? "none")")
            return
        }
        var evaluation = ModerationEvaluation(engine: engine, settings: .init(steps: 4, width: 64, height: 64))
        #expect(evaluation.previewKind == "tiny")
        let items = try await evaluation.run(prompts: [.init(prompt: "a photo of a person", label: .benign)], seeds: [5])
        #expect(items.map(\.abortStep) == [2])
        #expect(items.first?.previewChecks ?? 0 >= 1)
        evaluation.previewWithVAE = true
        #expect(evaluation.previewKind == "vae")
    }
}

import Contracts
import Moderation
import Diffusion
import Foundation
import HarmScoring
import Testing
import Worker
@testable import Engine
import TestSupport

/// A model folder with `scorers/` (the demo world's layout): the engine loads its harm scorers,
/// the embedded policy decides on them, and censoring pixelates the flagged cells only.
@Suite struct ModelFolderScorerTests {
    static let fixtures = TestPaths.fixtures

    /// tiny-sd with the fixture scorers linked in as `scorers/`.
    static func modelWithScorers() throws -> URL {
        let fm = FileManager.default
        let folder = fm.temporaryDirectory.appendingPathComponent("model-scorers-\(UUID())")
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        let tiny = fixtures.appendingPathComponent("tiny-sd")
        for entry in try fm.contentsOfDirectory(atPath: tiny.path) {
            try fm.createSymbolicLink(at: folder.appendingPathComponent(entry), withDestinationURL: tiny.appendingPathComponent(entry))
        }
        try fm.createSymbolicLink(
            at: folder.appendingPathComponent("scorers"), withDestinationURL: fixtures.appendingPathComponent("demo-scorers/scorers"))
        return folder
    }

    @Test func harmScorersDecideAndCensorTheirCells() async throws {
        let model = try Self.modelWithScorers()
        defer { try? FileManager.default.removeItem(at: model) }
        let engine = try NativeEngine(settings: NativeEngineSettings(modelPath: model.path))
        // The harm scorer is loaded; the attribute classifier is not (evaluation only).
        #expect(engine.scorer.scorerNames.contains("exposed"))
        #expect(!engine.scorer.scorerNames.contains("attribute"))
        #expect(engine.policy.decide(tenant: "t", scores: [
            HarmScore(scorer: "exposed", label: "EXPOSED", score: 0.6, subject: .image)]).decision == .censor)
        #expect(engine.policy.decide(tenant: "t", scores: [
            HarmScore(scorer: "exposed", label: "EXPOSED", score: 0.95, subject: .image)]).decision == .block)

        // A fixed image whose flagged cells are known from the scorer itself.
        let png = try PNG.read(contentsOf: Self.fixtures.appendingPathComponent("demo-scorers/images/gradient_64x64.png")).rgb()
        let exposed = try OnnxImageScorer(descriptorURL: Self.fixtures.appendingPathComponent("demo-scorers/scorers/exposed.json"))
        let scoring = try exposed.score(png)
        #expect(!scoring.regions.isEmpty && scoring.regions.count < 64)
        let image = GeneratedImage(
            png: [UInt8](try PNG.encode(png)), rgb: png.bytes, width: 64, height: 64, modelSHA256: "m", overlaySHA256: nil,
            appliedMitigations: AppliedMitigations())
        let scores = try await engine.scorer.scoreImage(image, request: GenerationRequest(requestID: "r", tenant: "t", prompt: "a person", seed: 1))
        #expect(scores.contains { $0.scorer == "exposed" && $0.label == "EXPOSED" && abs($0.score - scoring.scores[0].score) < 1e-12 })

        let censored = try PNG.decode(Data(try engine.censor.censor(
            image, reasons: [DecisionReason(scorer: "exposed", label: "EXPOSED", score: 0.6, threshold: 0.5)])))
        var flagged = Set<Int>()
        for box in scoring.regions {
            for y in box.y..<(box.y + box.height) { for x in box.x..<(box.x + box.width) { flagged.insert(y * 64 + x) } }
        }
        var changedInside = 0
        for p in 0..<(64 * 64) {
            let same = censored.bytes[(p * 3)..<(p * 3 + 3)] == png.bytes[(p * 3)..<(p * 3 + 3)]
            if !flagged.contains(p) { #expect(same, "pixel \(p) outside the flagged cells changed") }
            else if !same { changedInside += 1 }
        }
        #expect(changedInside > 0)
    }
}

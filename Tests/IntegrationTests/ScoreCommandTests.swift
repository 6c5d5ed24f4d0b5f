import Foundation
import Testing

/// `chaperone score` on a NudeNet fixture image: the worker's scorers and policy without
/// generating. Needs the `chaperone` binary (CHAPERONE_BIN, set by ops/test) and NudeNet's
/// 320n.onnx (CHAPERONE_NUDENET_ONNX).
@Suite struct ScoreCommandTests {
    struct Report: Decodable {
        struct Score: Decodable { var scorer: String; var label: String; var score: Double; var subject: String }
        struct Reason: Decodable { var scorer: String; var label: String; var score: Double; var threshold: Double }
        var decision: String
        var reasons: [Reason]
        var scores: [Score]
        var scorers: [String]
        var width: Int
        var height: Int
    }

    static func nudeNet() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["CHAPERONE_NUDENET_ONNX"], !path.isEmpty else {
            throw IntegrationError("CHAPERONE_NUDENET_ONNX is not set: export it from `ops/lib/nudenet-model.sh`")
        }
        return path
    }

    /// Runs `chaperone score …`; returns the exit status, stdout and stderr.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
        try ChaperoneCommand.run(["score"] + arguments, environment: environment)
    }

    static let image = "Tests/Fixtures/nudenet/images/gradient_radial.png"

    @Test func scoresDecidesAndExplainsAsJSON() throws {
        let result = try Self.run([Self.image, "--prompt", "a radial gradient", "--nudenet", try Self.nudeNet(), "--json"])
        #expect(result.status == 0, "\(result.error)")
        let report = try JSONDecoder().decode(Report.self, from: Data(result.output.utf8))
        #expect(report.width == 333 && report.height == 333)
        #expect(report.scorers.contains("nudenet") && report.scorers.contains("prompt_harm"))
        // The nudenet package finds BUTTOCKS_EXPOSED at 0.58875 on this image (fixture); the
        // standard policy censors exposed labels from 0.45.
        let exposed = try #require(report.scores.first { $0.scorer == "nudenet" && $0.label == "BUTTOCKS_EXPOSED" })
        #expect(abs(exposed.score - 0.58875) < 1e-3)
        #expect(report.decision == "censor")
        let reason = try #require(report.reasons.first { $0.label == "BUTTOCKS_EXPOSED" })
        #expect(reason.scorer == "nudenet" && reason.threshold == 0.45)
        // The prompt asked for nothing sexual, so the image's sexual harm is amplified.
        #expect(report.scores.contains { $0.scorer == "harm_amplification" && $0.label == "sexual.amplified" && $0.score == 1 })
        #expect(report.scores.filter { $0.subject == "prompt" }.allSatisfy { $0.score == 0 })
    }

    @Test func tablePrintsEveryScoreAndTheDecision() throws {
        let result = try Self.run([Self.image, "--nudenet", try Self.nudeNet()])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("decision: censor"))
        #expect(result.output.contains("BUTTOCKS_EXPOSED"))
        #expect(result.output.contains("nudenet/BUTTOCKS_EXPOSED: 0.58"))
    }

    @Test func aPolicyNamingAMissingScorerIsRefusedNamingTheFile() throws {
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString).json")
        try Data(#"{"default": {"rules": [{"scorer": "safety_checker", "labels": ["nsfw"], "block_at": 1}]}}"#.utf8).write(to: policy)
        defer { try? FileManager.default.removeItem(at: policy) }
        let result = try Self.run([Self.image, "--policy", policy.path])
        #expect(result.status != 0)
        #expect(result.error.contains(policy.lastPathComponent))
        #expect(result.error.contains("safety_checker"))
    }

    @Test func aMissingImageIsAClearError() throws {
        let result = try Self.run(["no-such-image.png"])
        #expect(result.status != 0)
        #expect(result.error.contains("no-such-image.png"))
    }

    /// A progressive JPEG and a palette PNG score exactly as RGB PNGs of the pixels Pillow
    /// decodes from them (Tests/Fixtures/images-score, ops/reference/make_image_fixtures.py):
    /// the decoder hands the scorers the same pixels the reference reads.
    @Test(arguments: ["radial.jpg", "radial-palette.png"])
    func jpegAndPaletteImagesScoreLikeTheirPixels(name: String) throws {
        let folder = "Tests/Fixtures/images-score/"
        let pixels = folder + name.replacingOccurrences(of: ".", with: "-") + "-pixels.png"
        let given = try Self.run([folder + name, "--nudenet", try Self.nudeNet(), "--json"])
        let reference = try Self.run([pixels, "--nudenet", try Self.nudeNet(), "--json"])
        #expect(given.status == 0, "\(given.error)")
        #expect(reference.status == 0, "\(reference.error)")
        let report = try JSONDecoder().decode(Report.self, from: Data(given.output.utf8))
        let expected = try JSONDecoder().decode(Report.self, from: Data(reference.output.utf8))
        #expect(report.width == 333 && report.height == 333)
        #expect(report.decision == expected.decision)
        #expect(report.scores.map(\.label) == expected.scores.map(\.label))
        #expect(report.scores.map(\.score) == expected.scores.map(\.score))
        // NudeNet ran on them: the JPEG still trips the exposed-buttocks rule (256 colours of the
        // palette version lose that detection, which is why the comparison is with its own pixels).
        #expect(report.scorers.contains("nudenet"))
        if name.hasSuffix(".jpg") {
            #expect(report.scores.contains { $0.scorer == "nudenet" && $0.label == "BUTTOCKS_EXPOSED" && $0.score > 0.45 })
        }
    }

    @Test func aCorruptImageIsRefusedBeforeAnyModelLoads() throws {
        let result = try Self.run(["Tests/Fixtures/images/bad/truncated.jpg", "--nudenet", "/nonexistent/320n.onnx"])
        #expect(result.status != 0)
        #expect(result.error.contains("truncated.jpg"))
        #expect(!result.error.contains("320n.onnx"), "\(result.error)")
    }

    /// The scorers' files come from the worker's configuration keys: the flag, else the
    /// `CHAPERONE_MODEL_*` variable, else the `--config` file; an invalid value is refused with
    /// its key named, and an unknown key of the file too.
    @Test func modelFilesComeFromTheWorkersConfigurationKeys() throws {
        let nudeNet = try Self.nudeNet()
        func scorers(_ result: (status: Int32, output: String, error: String)) throws -> [String] {
            #expect(result.status == 0, "\(result.error)")
            return try JSONDecoder().decode(Report.self, from: Data(result.output.utf8)).scorers
        }
        #expect(try scorers(Self.run([Self.image, "--json"], environment: ["CHAPERONE_MODEL_NUDENET": nudeNet])).contains("nudenet"))

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("score-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("chaperone.json")
        try Data(#"{"model": {"nudenet": "\#(nudeNet)"}}"#.utf8).write(to: file)
        #expect(try scorers(Self.run([Self.image, "--json", "--config", file.path])).contains("nudenet"))
        // The flag wins over the file.
        let flagged = try Self.run([Self.image, "--config", file.path, "--nudenet", "/nonexistent/320n.onnx"])
        #expect(flagged.status == 1 && flagged.error.contains("/nonexistent/320n.onnx"), "\(flagged.error)")

        let unknown = folder.appendingPathComponent("unknown.json")
        try Data(#"{"model": {"nudnet": "x"}}"#.utf8).write(to: unknown)
        let refused = try Self.run([Self.image, "--config", unknown.path])
        #expect(refused.status == 78 && refused.error.contains("model.nudnet"), "\(refused.error)")
        let level = try Self.run([Self.image], environment: ["CHAPERONE_LOG_LEVEL": "loud"])
        #expect(level.status == 78 && level.error.contains("log.level"), "\(level.error)")
    }

    /// `--fail-on`: exit 2 at or above the level (the report is still printed), 0 below it,
    /// 64 for a level that is not censor or block, 1 when nothing could be scored.
    @Test func failOnSetsTheExitStatus() throws {
        let nudeNet = try Self.nudeNet()
        let censor = try Self.run([Self.image, "--nudenet", nudeNet, "--json", "--fail-on", "censor"])
        #expect(censor.status == 2, "\(censor.error)")
        #expect(try JSONDecoder().decode(Report.self, from: Data(censor.output.utf8)).decision == "censor")
        let block = try Self.run([Self.image, "--nudenet", nudeNet, "--fail-on", "block"])
        #expect(block.status == 0, "\(block.error)")
        #expect(block.output.contains("decision: censor"))
        let allow = try Self.run([Self.image, "--nudenet", nudeNet, "--fail-on", "allow"])
        #expect(allow.status == 64)
        #expect(allow.error.contains("fail-on"))
        let unreadable = try Self.run(["Tests/Fixtures/images/bad/cmyk.jpg", "--nudenet", nudeNet, "--fail-on", "censor"])
        #expect(unreadable.status == 1)
        #expect(unreadable.error.contains("cmyk.jpg") && unreadable.error.contains("CMYK"))
    }
}

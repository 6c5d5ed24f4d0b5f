import ArgumentParser
import Configuration
import Contracts
import Moderation
import Diffusion
import Engine
import Foundation
import Worker

/// `chaperone score`: the worker's scorers and policy on one image (and prompt), without
/// generating: every score, the decision and its reasons, as a table or JSON.
struct Score: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score an image (and optionally its prompt) with the worker's scorers and decide as the worker would.",
        discussion: """
            Loads NudeNet, the model folder's safety_checker/ and scorers/, the prompt lexicon and \
            the moderation policy, exactly as the worker does, and prints every score, the \
            decision for the tenant and the reasons. Each comes from the worker's configuration \
            key: the flag, else its CHAPERONE_* variable, else the --config file (model.nudenet, \
            model.path, model.policy, model.prompt_lexicon, model.prompt_embedding).

            Exit status: 0 scored (and, with --fail-on, the decision is below that level); \
            1 the image, a model or the policy cannot be read; 2 the decision is at or above \
            --fail-on; 64 invalid arguments.
            """)

    /// The decision level at which `--fail-on` makes the command exit with `flaggedExitCode`.
    enum FailLevel: String, ExpressibleByArgument, CaseIterable {
        case censor, block

        var decision: Decision {
            switch self {
            case .censor: .censor
            case .block: .block
            }
        }
    }

    /// Exit status when the decision reaches `--fail-on` (1 stays "could not score").
    static let flaggedExitCode: Int32 = 2

    @Argument(help: "The image: PNG (any colour type, bit depth, interlaced) or JPEG (baseline or progressive). Alpha is dropped, not composited.")
    var image: String

    @Option(help: "The prompt the image was generated from (scored for prompt harm and harm amplification).")
    var prompt: String = ""

    @Option(help: "Tenant whose policy decides. Default: the policy's default.")
    var tenant: String = "default"

    @Option(help: "Model folder (diffusers layout) whose safety_checker/, scorers/ and text encoder to use (CHAPERONE_MODEL_PATH).")
    var model: String?

    @Option(help: "NudeNet v3 320n.onnx (CHAPERONE_MODEL_NUDENET).")
    var nudenet: String?

    @Option(help: "Moderation policy JSON (CHAPERONE_MODEL_POLICY). Default: the embedded policy, restricted to the loaded scorers.")
    var policy: String?

    @Option(help: "Prompt-harm lexicon JSON (CHAPERONE_MODEL_PROMPT_LEXICON). Default: the embedded lexicon.")
    var lexicon: String?

    @Option(help: "Prompt harm by text-embedding similarity: off, standard, or a descriptions JSON (CHAPERONE_MODEL_PROMPT_EMBEDDING; needs a model).")
    var promptEmbedding: String?

    @Option(help: "JSON config file (also CHAPERONE_CONFIG), as the worker's.")
    var config: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Exit with status 2 when the decision is this level or more severe: censor or block (for scripts).")
    var failOn: FailLevel?

    struct Report: Codable {
        var image: String
        var width: Int
        var height: Int
        var tenant: String
        var prompt: String
        var decision: String
        var reasons: [DecisionReason]
        var scores: [HarmScore]
        var scorers: [String]
    }

    func run() async throws {
        var flags: [String: ConfigContent] = [:]
        for (key, value) in [("model.path", model), ("model.nudenet", nudenet), ("model.policy", policy),
                             ("model.prompt_lexicon", lexicon), ("model.prompt_embedding", promptEmbedding)] {
            if let value { flags[key] = .string(value) }
        }
        let settings = try await WorkerConfiguration.loadForCommand(flags: flags, configFile: config)
        // The image first: a file that does not decode fails before any model is loaded.
        let buffer = try ImageDecoder.readRGB(contentsOf: URL(fileURLWithPath: image))
        let rgb = buffer.bytes
        let moderation = try NativeModeration(settings: NativeModerationSettings(
            modelPath: settings.modelPath, nudeNetModelPath: settings.nudeNetModelPath, policyPath: settings.policyPath,
            lexiconPath: settings.promptLexiconPath, promptEmbedding: settings.promptEmbedding))
        let request = GenerationRequest(
            requestID: "score", tenant: tenant, prompt: prompt, seed: 0,
            width: buffer.width, height: buffer.height)
        let generated = GeneratedImage(
            png: [], rgb: rgb, width: buffer.width, height: buffer.height, modelSHA256: "", overlaySHA256: nil,
            appliedMitigations: AppliedMitigations())
        let scores = try await moderation.scorer.scorePrompt(request) + moderation.scorer.scoreImage(generated, request: request)
        let (decision, reasons) = moderation.policy.decide(tenant: tenant, scores: scores)
        let report = Report(
            image: image, width: buffer.width, height: buffer.height, tenant: tenant, prompt: prompt,
            decision: decision.rawValue, reasons: reasons, scores: scores, scorers: moderation.availableScorers.sorted())
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(Self.table(report))
        }
        if let failOn, decision >= failOn.decision {
            throw ExitCode(Self.flaggedExitCode)
        }
    }

    static func table(_ report: Report) -> String {
        var lines = ["\(report.image)  \(report.width)x\(report.height)  tenant \(report.tenant)", ""]
        lines.append(pad("subject", 8) + pad("scorer", 22) + pad("label", 30) + "score")
        for score in report.scores {
            lines.append(pad(score.subject.rawValue, 8) + pad(score.scorer, 22) + pad(score.label, 30) + String(format: "%.4f", score.score))
        }
        lines.append("")
        lines.append("decision: \(report.decision)")
        for reason in report.reasons {
            let action = reason.action.map { " → \($0.rawValue)" } ?? ""
            lines.append("  \(reason.scorer)/\(reason.label): \(String(format: "%.4f", reason.score ?? 0)) ≥ \(String(format: "%.4f", reason.threshold ?? 0))\(action)")
        }
        return lines.joined(separator: "\n")
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

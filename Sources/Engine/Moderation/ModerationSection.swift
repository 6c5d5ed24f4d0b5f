import Evaluation
import Foundation

/// The `moderation` section of `chaperone eval`: escalation, scorer cascades and early abort
/// under a moderation policy (see `docs/moderation-strategy.md`), measured with the native
/// engine on the section's labelled prompts:
///
/// ```json
/// "moderation": {"policy": "moderation-policy.json", "tenant": "default", "safegen": "off",
///                "preview": "linear", "prompts": [{"prompt": "a figure on a beach", "label": "benign"}, …]}
/// ```
///
/// `policy` is relative to the prompt-set file. Reports the false-positive (and false-negative)
/// rate with and without the cascade, the second-stage rate, early abort's compute saved and
/// agreement with scoring the final image, and the share of would-be-blocked requests rescued
/// by the ladder.
public struct ModerationSection: EvaluationSection {
    public let key = "moderation"
    let model: URL
    let overlay: URL?
    let nudeNet: String?

    /// The section on the model folder `model`, with its SafeGen `overlay` and NudeNet model
    /// when given (the engine loads them as the worker would).
    public init(model: URL, overlay: URL?, nudeNet: String?) {
        self.model = model
        self.overlay = overlay
        self.nudeNet = nudeNet
    }

    struct Input: SectionInput {
        static let fields: Set<String> = ["policy", "tenant", "safegen", "prompts", "preview"]
        var policy: String
        var tenant: String?
        var safegen: String?
        var prompts: [ModerationEvaluation.Prompt]
        /// `vae` (the full VAE), or `tiny` / `linear` to assert the model folder's own preview
        /// (`vae_tiny/`, else `latent_preview.json`, see `LatentPreview`); absent: the folder's.
        var preview: String?
    }

    struct Report: Encodable, Sendable {
        var policy: String
        var tenant: String
        var latentPreview: String
        var summary: ModerationEvaluation.Summary
        var items: [ModerationEvaluation.Item]

        enum CodingKeys: String, CodingKey {
            case policy, tenant, summary, items
            case latentPreview = "latent_preview"
        }
    }

    public func run(input: Data, source: String, context: EvaluationContext) async throws -> SectionResult {
        let given = try Input.decode(input, source: source, section: key)
        if given.prompts.isEmpty { throw EvaluationError("\(source), section '\(key)': prompts is empty") }
        let safegen = given.safegen ?? "off"
        guard ["on", "off", "default"].contains(safegen) else {
            throw EvaluationError("\(source), section '\(key)': safegen must be on, off or default, got '\(safegen)'")
        }
        let policyURL = given.policy.hasPrefix("/")
            ? URL(fileURLWithPath: given.policy)
            : URL(fileURLWithPath: source).deletingLastPathComponent().appendingPathComponent(given.policy)
        let engine = try NativeEngine(settings: NativeEngineSettings(
            modelPath: model.path, overlayPath: overlay?.path, nudeNetModelPath: nudeNet, policyPath: policyURL.path))
        let settings = context.settings
        let tenant = given.tenant ?? "default"
        var evaluation = ModerationEvaluation(engine: engine, tenant: tenant, settings: .init(
            steps: settings.steps, width: settings.width, height: settings.height, guidanceScale: settings.guidanceScale,
            safegen: safegen == "default" ? nil : safegen == "on"))
        switch given.preview {
        case nil:
            break
        case "vae":
            evaluation.previewWithVAE = true
        case let own? where ["tiny", "linear"].contains(own):
            guard evaluation.previewKind == own else {
                throw EvaluationError("\(source), section '\(key)': preview '\(own)' asked for, but the model folder's early-abort preview is '\(evaluation.previewKind)'")
            }
        case let other?:
            throw EvaluationError("\(source), section '\(key)': preview must be tiny, linear or vae, got '\(other)'")
        }
        let items = try await evaluation.run(prompts: given.prompts, seeds: settings.seedList) { context.log("moderation: \($0)") }
        let summary = ModerationEvaluation.Summary(items: items)
        func percent(_ value: Double?) -> String { value.map { String(format: "%.1f %%", $0 * 100) } ?? "n/a" }
        let headlines = [
            "moderation: false positives \(percent(summary.falsePositiveRateWithCascade)) with the cascade, \(percent(summary.falsePositiveRateWithoutCascade)) without (second stage \(percent(summary.secondStageRate)))",
            "moderation: early abort stops \(summary.earlyAborts)/\(summary.requests), agrees with the final image \(percent(summary.earlyAbortAgreement)), saves \(percent(summary.stepsSavedShare)) of steps (\(percent(summary.computeSavedShare)) of sampling time net)",
            "moderation: escalation rescues \(percent(summary.rescuedShare)) of \(summary.wouldBeBlocked) would-be-blocked requests",
        ]
        let chart = BarChart(title: "Moderation: cascade, early abort, escalation", groups: [
            .init("false positives", [.init("no cascade", summary.falsePositiveRateWithoutCascade), .init("cascade", summary.falsePositiveRateWithCascade)]),
            .init("early abort", [.init("agreement", summary.earlyAbortAgreement), .init("steps saved", summary.stepsSavedShare)]),
            .init("escalation", [.init("rescued", summary.rescuedShare)]),
        ])
        return SectionResult(
            json: Report(policy: given.policy, tenant: tenant, latentPreview: evaluation.previewKind, summary: summary, items: items),
            panels: [.bars(chart)], headlines: headlines)
    }
}

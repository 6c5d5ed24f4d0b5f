import ArgumentParser
import Engine
import Foundation

/// `chaperone bench escalation`: what escalation, scorer cascades and early abort do on a
/// labelled prompt set with a model folder and a moderation policy (see
/// `docs/moderation-strategy.md`): false-positive rate with and without the cascade, the
/// second-stage rate, compute saved by early abort and its agreement with scoring the final
/// image, and the share of would-be-blocked requests the ladder rescues.
struct BenchEscalation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalation",
        abstract: "Measure escalation, scorer cascades and early abort on a labelled prompt set; print JSON."
    )

    @Option(help: "A diffusers model folder (its scorers/ and early-abort preview, vae_tiny/ or latent_preview.json, are used when present).")
    var model: String

    @Option(help: "A SafeGen overlay (needed when a ladder step turns SafeGen on).")
    var overlay: String?

    @Option(help: "The moderation policy JSON with the tenant's escalation, cascade and early_abort sections.")
    var policy: String

    @Option(help: "Prompt set: a JSON array of {\"prompt\": …, \"label\": \"benign\" | \"harmful\"}.")
    var prompts: String

    @Option(help: "NudeNet 320n.onnx, when the policy names nudenet.")
    var nudenet: String?

    @Option(help: "The tenant whose policy applies.")
    var tenant: String = "default"

    @Option(help: "Seeds per prompt (0 ..< n).")
    var seeds: Int = 2

    @Option(help: "Sampling steps.")
    var steps: Int = 20

    @Option(help: "Image width and height (a multiple of 8).")
    var size: Int = 64

    @Option(help: "Scheduler.")
    var scheduler: String = "ddim"

    @Option(help: "SafeGen on the first try: on, off or default (on where an overlay is loaded).")
    var safegen: String = "off"

    @Flag(help: "Decode early-abort previews with the full VAE instead of the model's vae_tiny/ or latent_preview.json.")
    var previewVae = false

    @Flag(help: "Include every request's outcome in the JSON.")
    var items = false

    func validate() throws {
        if size < 8 || size % 8 != 0 { throw ValidationError("--size must be a positive multiple of 8") }
        if steps < 2 { throw ValidationError("--steps must be at least 2") }
        if seeds < 1 { throw ValidationError("--seeds must be at least 1") }
        if !["on", "off", "default"].contains(safegen) { throw ValidationError("--safegen must be on, off or default") }
    }

    struct Result: Encodable {
        var benchmark = "escalation"
        var model: String
        var policy: String
        var tenant: String
        var prompts: Int
        var seeds: Int
        var steps: Int
        var imageSize: Int
        var latentPreview: String
        var machine: BenchMachine
        var seconds: Double
        var summary: ModerationEvaluation.Summary
        var items: [ModerationEvaluation.Item]?
    }

    func run() async throws {
        let promptSet: [ModerationEvaluation.Prompt]
        do {
            promptSet = try JSONDecoder().decode([ModerationEvaluation.Prompt].self, from: Data(contentsOf: URL(fileURLWithPath: prompts)))
        } catch {
            throw ValidationError("\(prompts): not a prompt set (a JSON array of {\"prompt\", \"label\": benign|harmful}): \(error)")
        }
        if promptSet.isEmpty { throw ValidationError("\(prompts): the prompt set is empty") }
        let engine = try NativeEngine(settings: NativeEngineSettings(
            modelPath: model, overlayPath: overlay, nudeNetModelPath: nudenet, policyPath: policy))
        var evaluation = ModerationEvaluation(engine: engine, tenant: tenant, settings: .init(
            steps: steps, width: size, height: size, scheduler: scheduler,
            safegen: safegen == "default" ? nil : safegen == "on"))
        evaluation.previewWithVAE = previewVae
        let start = Date()
        let results = try await evaluation.run(prompts: promptSet, seeds: (0..<UInt64(seeds)).map { $0 }) {
            FileHandle.standardError.write(Data("\($0)\n".utf8))
        }
        try printBenchJSON(Result(
            model: URL(fileURLWithPath: model).lastPathComponent, policy: URL(fileURLWithPath: policy).lastPathComponent, tenant: tenant,
            prompts: promptSet.count, seeds: seeds, steps: steps, imageSize: size, latentPreview: evaluation.previewKind,
            machine: .current(), seconds: Date().timeIntervalSince(start), summary: ModerationEvaluation.Summary(items: results),
            items: items ? results : nil))
    }
}

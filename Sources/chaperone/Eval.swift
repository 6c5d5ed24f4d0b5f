import ArgumentParser
import Engine
import Evaluation
import Foundation
import Guidance
import HarmScoring

/// `chaperone eval`: the demo world's (or a real SD folder's) safety, utility, fairness and
/// harm-amplification numbers on a fixed prompt set, as JSON and a PNG report.
struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model folder with its SafeGen overlay and scorers on a prompt set (JSON + PNG report).",
        discussion: """
            Sections (each runs when the prompt set has its key): nudity (exposed detections and \
            nudity-removal rate of SafeGen, SLD and both), benign (classifier accuracy base vs \
            SafeGen, pixel distance), fairness (attribute shares per role: plain, Fair Diffusion, \
            attribute switching; with switch_sweep, a sweep of the switching tau), amplification (harm amplification rates per prompt group), \
            amplification_fit (fits the calibrated harm scales and distribution-based thresholds \
            per harm type, writes DIR/amplification-fit.json, and reports amplification rates per \
            method, harm type and prompt group), i2p \
            (I2P inappropriateness per category: probability of an inappropriate image and expected \
            maximum inappropriateness over the seeds, with bootstrap intervals, for base, SafeGen, \
            each SLD preset and SafeGen with SLD; prompts from an I2P-format CSV). \
            Writes DIR/eval.json and DIR/eval.png. Attribute switching without a tau uses \
            MODEL/attribute-switching.json's tau when it exists; --write-switching-settings writes \
            the sweep's choice there.
            """
    )

    @Option(help: "Model folder in the diffusers layout.")
    var model: String

    @Option(help: "SafeGen overlay (file or edited unet/ folder). Default: MODEL/safegen-overlay.safetensors when it exists.")
    var overlay: String?

    @Flag(help: "Evaluate without a SafeGen overlay even when the model folder has one.")
    var noOverlay = false

    @Option(help: "Folder of ONNX scorers (<name>.json + <name>.onnx). Default: MODEL/scorers when it exists.")
    var scorers: String?

    @Option(help: "NudeNet v3 320n.onnx, for a nudity section with detector nudenet (real SD folders).")
    var nudenet: String?

    @Option(help: "Q16 prompt embeddings (safetensors, tensor 'prompts' [2, P]) for the i2p section. Default: MODEL/q16-prompts.safetensors when it exists.")
    var q16: String?

    @Option(help: "CLIP vision tower with projection for Q16 (a safety_checker/ or CLIPVisionModelWithProjection folder). Default: MODEL/safety_checker.")
    var q16Vision: String?

    @Option(help: "Prompt set JSON. Default: MODEL/eval-prompts.json.")
    var prompts: String?

    @Option(help: "Fair Diffusion attribute families JSON. Default: MODEL/fairness-families.json when it exists, else the embedded gender family.")
    var families: String?

    @Flag(help: "Write the tau the fairness section's switch_sweep chooses, with the sweep, to MODEL/attribute-switching.json.")
    var writeSwitchingSettings = false

    @Option(help: "Denoising steps (overrides the prompt set; default 20).")
    var steps: Int?

    @Option(help: "Seeds per prompt (overrides the prompt set; default 4).")
    var seeds: Int?

    @Option(help: "First seed (overrides the prompt set's first_seed; seeds are FIRST ..< FIRST + seeds).")
    var firstSeed: UInt64?

    @Option(help: "Classifier-free guidance scale (overrides the prompt set; default 7.5).")
    var guidanceScale: Double?

    @Option(help: "Output folder for eval.json and eval.png.")
    var out: String = "out/eval"

    @Option(help: "Also write every generated image as a PNG file with a manifest (images.jsonl) into this folder.")
    var images: String?

    @Flag(help: "Also print the JSON report on standard output.")
    var json = false

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1.") }
        if let seeds, seeds < 1 { throw ValidationError("--seeds must be at least 1.") }
        if let guidanceScale, !guidanceScale.isFinite { throw ValidationError("--guidance-scale must be a number.") }
        if noOverlay && overlay != nil { throw ValidationError("--overlay and --no-overlay exclude each other.") }
        if q16Vision != nil && q16 == nil { throw ValidationError("--q16-vision needs --q16 (the prompt embeddings).") }
    }

    func run() async throws {
        let fm = FileManager.default
        let modelURL = URL(fileURLWithPath: model)
        let defaultOverlay = modelURL.appendingPathComponent("safegen-overlay.safetensors")
        let overlayURL = noOverlay ? nil : overlay.map(URL.init(fileURLWithPath:))
            ?? (fm.fileExists(atPath: defaultOverlay.path) ? defaultOverlay : nil)
        let defaultScorers = modelURL.appendingPathComponent("scorers")
        let scorersURL = scorers.map(URL.init(fileURLWithPath:)) ?? (fm.fileExists(atPath: defaultScorers.path) ? defaultScorers : nil)
        let promptsURL = prompts.map(URL.init(fileURLWithPath:)) ?? modelURL.appendingPathComponent("eval-prompts.json")

        let evaluator = Evaluator(sections: Evaluator.standardSections + [
            ModerationSection(model: modelURL, overlay: overlayURL, nudeNet: nudenet),
        ])
        let promptSet = try evaluator.loadPromptSet(promptsURL)
        if writeSwitchingSettings {
            let fairness = promptSet.inputs["fairness"].flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            guard fairness?["switch_sweep"] != nil else {
                throw ValidationError("--write-switching-settings needs a prompt set whose fairness section has a switch_sweep (\(promptsURL.path) has none).")
            }
        }
        let given = promptSet.generation
        let settings = GenerationSettings(
            steps: steps ?? given.steps ?? 20, guidanceScale: guidanceScale ?? given.guidanceScale ?? 7.5,
            width: given.width ?? 512, height: given.height ?? 512, seeds: seeds ?? given.seeds ?? 4,
            firstSeed: firstSeed ?? given.firstSeed ?? 0)
        let quiet = quiet
        let log: @Sendable (String) -> Void = { line in if !quiet { StandardError().write(line + "\n") } }
        let (familyTable, familiesURL) = try AttributeFamilies.resolve(
            explicit: families.map(URL.init(fileURLWithPath:)), modelFolder: modelURL)
        // Q16 when its prompt embeddings are given or the model folder has them; the vision
        // tower is the folder's safety checker unless --q16-vision names another.
        let defaultQ16 = modelURL.appendingPathComponent("q16-prompts.safetensors")
        let q16URL = q16.map(URL.init(fileURLWithPath:)) ?? (fm.fileExists(atPath: defaultQ16.path) ? defaultQ16 : nil)
        let q16Classifier = try q16URL.map { prompts in
            let vision = q16Vision.map(URL.init(fileURLWithPath:)) ?? modelURL.appendingPathComponent("safety_checker")
            guard fm.fileExists(atPath: vision.appendingPathComponent("config.json").path) else {
                throw EvaluationError("Q16 prompts \(prompts.path) need a CLIP vision tower: \(vision.path) has no config.json (give --q16-vision).")
            }
            return try Q16Classifier.load(visionFolder: vision, promptsFile: prompts)
        }
        let switching = try AttributeSwitchingSettings.resolve(modelFolder: modelURL)
        let context = try Evaluator.makeContext(
            model: modelURL, overlay: overlayURL, scorersFolder: scorersURL, nudeNet: nudenet.map(URL.init(fileURLWithPath:)),
            q16: q16Classifier, families: familyTable, switching: switching,
            switchingSettingsDestination: writeSwitchingSettings
                ? modelURL.appendingPathComponent(AttributeSwitchingSettings.modelFolderFileName) : nil,
            settings: settings, log: log)
        var scorerNames = context.scorers.keys.sorted()
        if context.nudeNet != nil { scorerNames.append("nudenet") }
        if context.q16 != nil { scorerNames.append(Q16Classifier.scorerName) }
        log("model \(model), overlay \(overlayURL?.path ?? "none"), families \(familiesURL?.path ?? "embedded"), "
            + "switching tau \(context.defaultSwitchTau) (\(switching?.source.path ?? "built-in default")), scorers \(scorerNames.joined(separator: ", ")), "
            + "\(settings.seeds) seed(s), \(settings.steps) step(s), \(settings.width)x\(settings.height)")
        let header = ReportHeader(
            model: model, overlay: overlayURL?.path, prompts: promptsURL.path, scorers: scorerNames, settings: settings)
        let outcome = try await evaluator.run(promptSet, context: context, header: header)

        let outURL = URL(fileURLWithPath: out)
        try fm.createDirectory(at: outURL, withIntermediateDirectories: true)
        try outcome.json.write(to: outURL.appendingPathComponent("eval.json"))
        try outcome.png.write(to: outURL.appendingPathComponent("eval.png"))
        for (name, bytes) in outcome.artifacts.sorted(by: { $0.key < $1.key }) {
            try bytes.write(to: outURL.appendingPathComponent(name))
            log("wrote \(outURL.appendingPathComponent(name).path)")
        }
        if let images {
            let entries = try ImageArchive.write(context.generatedImages(), to: URL(fileURLWithPath: images))
            log("wrote \(entries.count) images and images.jsonl to \(images)")
        }
        for line in outcome.headlines { log(line) }
        log("wrote \(outURL.appendingPathComponent("eval.json").path) and eval.png (\(context.generatedCount) images in \(String(format: "%.0f", context.generationSeconds)) s)")
        if json { FileHandle.standardOutput.write(outcome.json + Data("\n".utf8)) }
    }
}

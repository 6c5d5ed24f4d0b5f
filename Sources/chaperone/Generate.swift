import ArgumentParser
import Contracts
import Diffusion
import Foundation
import Guidance
import Tensor

/// `chaperone generate`: one image from a diffusers model folder, written as PNG.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate one image with a Stable Diffusion v1.x model folder (diffusers layout).",
        discussion: """
            The same seed, scheduler and settings give the same image as diffusers' \
            StableDiffusionPipeline on CPU with the same weights (PyTorch-compatible noise).
            """
    )

    @Option(help: "Model folder in the diffusers layout (model_index.json, unet/, vae/, …).")
    var model: String

    @Option(help: "The prompt.")
    var prompt: String

    @Option(help: "What the image should not show (classifier-free guidance's unconditional prompt).")
    var negativePrompt: String = ""

    @Option(help: "Seed for the initial noise (as torch.Generator().manual_seed).")
    var seed: UInt64 = 0

    @Option(help: "Number of denoising steps.")
    var steps: Int = 50

    @Option(help: "Scheduler: \(SchedulerKind.allCases.map(\.shortName).joined(separator: ", ")) (default: the model's).")
    var scheduler: String?

    @Option(help: "Classifier-free guidance scale (> 1 enables guidance).")
    var guidanceScale: Float = 7.5

    @Option(help: "Guidance rescale φ in 0…1 (0 disables it).")
    var guidanceRescale: Float = 0

    @Option(help: "Image width in pixels (a multiple of 8).")
    var width: Int = 512

    @Option(help: "Image height in pixels (a multiple of 8).")
    var height: Int = 512

    @Option(name: [.short, .customLong("output")], help: "Where to write the PNG.")
    var output: String

    @Option(help: "Decoder: full (the model's vae/) or tiny (its vae_tiny/, a diffusers AutoencoderTiny: much faster, slightly less detailed).")
    var decoder: String = "full"

    @Flag(help: "No progress bar.")
    var quiet = false

    @Option(help: "SafeGen overlay (attn1 tensors, safetensors) or edited unet/ folder to generate with.")
    var overlay: String?

    @Option(help: ArgumentHelp(
        "A LoRA merged into the UNet and text encoder at load: FILE or FILE:SCALE (default scale 1); repeat for several.",
        discussion: "diffusers/PEFT or kohya safetensors. With --overlay, SafeGen's attn1 tensors replace the LoRA-merged ones."))
    var lora: [String] = []

    @Option(help: "Safe Latent Diffusion preset: weak, medium, strong or max.")
    var sld: String?

    @Option(help: "A SEGA edit: a concept to add; repeat for several.")
    var edit: [String] = []

    @Option(help: "A SEGA edit: a concept to remove; repeat for several.")
    var remove: [String] = []

    @Option(help: "Fair Diffusion target, e.g. gender:female=0.5,male=0.5.")
    var fairness: String?

    @Option(help: "Fair Diffusion attribute families JSON. Default: MODEL/fairness-families.json when it exists, else the embedded gender family.")
    var families: String?

    @Option(help: "Attribute switching: the prompt that conditions steps with timestep below --tau.")
    var switchPrompt: String?

    @Option(help: "Attribute switching timestep (0…1000). Default: MODEL/attribute-switching.json's tau when it exists, else \(AttributeSwitch.defaultTau).")
    var tau: Int?

    @Flag(help: "Write a side-by-side grid: no mitigation, each requested mitigation alone, then all together.")
    var grid = false

    @Option(help: "How the UNet, VAE and text encoder hold their weight matrices: file (the checkpoint's precision, 16-bit stays 16-bit), float32, or float16 (also rounds float32 checkpoints to half).")
    var weightPrecision: WeightPrecision = .file

    func validate() throws {
        guard width > 0, height > 0, width % 8 == 0, height % 8 == 0 else {
            throw ValidationError("--width and --height must be positive multiples of 8 (got \(width)x\(height)).")
        }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1.") }
        if let tau, !(0...1000).contains(tau) { throw ValidationError("--tau must be a timestep in 0...1000 (got \(tau)).") }
        guard guidanceScale.isFinite else { throw ValidationError("--guidance-scale must be a number.") }
        guard (0...1).contains(guidanceRescale) else { throw ValidationError("--guidance-rescale must be in 0...1.") }
        for argument in lora { _ = try Self.loraArgument(argument) }
        guard ["full", "tiny"].contains(decoder) else {
            throw ValidationError("--decoder must be full or tiny (got \(decoder)).")
        }
        if let scheduler, SchedulerKind(name: scheduler) == nil {
            throw ValidationError("Unknown --scheduler '\(scheduler)'; choose one of "
                + SchedulerKind.allCases.map(\.shortName).joined(separator: ", ") + ".")
        }
    }

    /// `FILE` or `FILE:SCALE` (the scale after the last colon, when it is a number).
    static func loraArgument(_ argument: String) throws -> (path: String, scale: Float) {
        if let colon = argument.lastIndex(of: ":"), let scale = Float(argument[argument.index(after: colon)...]) {
            guard scale.isFinite else { throw ValidationError("--lora scale must be a finite number (got \(argument)).") }
            return (String(argument[..<colon]), scale)
        }
        guard !argument.isEmpty else { throw ValidationError("--lora needs a file.") }
        return (argument, 1)
    }

    /// One named set of mitigations to render, as a request would carry them.
    struct Variant {
        var name: String
        var mitigations: Mitigations
    }

    func variants() throws -> [Variant] {
        var parts: [Variant] = []
        if overlay != nil { parts.append(Variant(name: "safegen", mitigations: Mitigations(safegen: true))) }
        if let sld {
            guard let preset = SafetyPreset(rawValue: sld) else {
                throw ValidationError("--sld must be weak, medium, strong or max (got \(sld)).")
            }
            parts.append(Variant(name: "sld-\(sld)", mitigations: Mitigations(safetyGuidance: SafetyGuidance(preset: preset))))
        }
        if !edit.isEmpty || !remove.isEmpty {
            let edits = edit.map { SemanticEdit(concept: $0) } + remove.map { SemanticEdit(concept: $0, reverse: true) }
            parts.append(Variant(name: "sega", mitigations: Mitigations(semanticEdits: edits)))
        }
        if let fairness {
            let (family, rest) = fairness.split(separator: ":", maxSplits: 1).map(String.init).pair
            var proportions: [String: Double] = [:]
            for item in rest.split(separator: ",") {
                let kv = item.split(separator: "=")
                guard kv.count == 2, let share = Double(kv[1]) else {
                    throw ValidationError("--fairness must look like gender:female=0.5,male=0.5 (got \(fairness)).")
                }
                proportions[String(kv[0])] = share
            }
            parts.append(Variant(name: "fair", mitigations: Mitigations(fairness: FairnessTarget(family: family, proportions: proportions))))
        }
        if let switchPrompt {
            parts.append(Variant(name: "switch", mitigations: Mitigations(attributeSwitching: AttributeSwitching(switchPrompt: switchPrompt, tau: tau))))
        }
        let combined = parts.map(\.mitigations)
        let all = Variant(name: "all", mitigations: Mitigations(
            safegen: combined.contains { $0.safegen == true } ? true : nil,
            safetyGuidance: combined.lazy.compactMap(\.safetyGuidance).first,
            semanticEdits: combined.contains { $0.semanticEdits != nil } ? combined.flatMap { $0.semanticEdits ?? [] } : nil,
            fairness: combined.lazy.compactMap(\.fairness).first,
            attributeSwitching: combined.lazy.compactMap(\.attributeSwitching).first))
        if !grid { return [all] }
        return [Variant(name: "plain", mitigations: Mitigations())] + parts + (parts.count > 1 ? [all] : [])
    }

    func run() throws {
        let log = StandardError()
        let loadStart = Date()
        TensorMemory.retainFreedBuffers()
        let loras = try lora.map { argument in
            let (path, scale) = try Self.loraArgument(argument)
            return ScaledLoRA(try LoRA.load(file: URL(fileURLWithPath: path)), scale: scale)
        }
        // Order: LoRAs merged into the base weights, then SafeGen's attn1 replaces (not adds to)
        // the merged attn1, so a LoRA cannot alter the self-attention SafeGen edited.
        var pipeline = try StableDiffusionPipeline.load(
            folder: URL(fileURLWithPath: model), weightPrecision: weightPrecision, loras: loras)
        if !quiet {
            for (argument, loaded) in zip(lora, loras) {
                log.write("LoRA \(try Self.loraArgument(argument).path): \(loaded.lora.layers.count) layers at scale \(loaded.scale)\n")
            }
        }
        if decoder == "tiny" { pipeline = try pipeline.withTinyDecoder(folder: URL(fileURLWithPath: model)) }
        var safeGenPipeline: StableDiffusionPipeline?
        if let overlay, let unet = pipeline.noisePredictor as? UNet2DConditionModel {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: overlay, isDirectory: &isDirectory)
            let loaded = isDirectory.boolValue
                ? try SafeGenOverlay.extract(editedUNet: URL(fileURLWithPath: overlay), base: unet)
                : try SafeGenOverlay.load(file: URL(fileURLWithPath: overlay))
            safeGenPipeline = StableDiffusionPipeline(
                promptEncoder: pipeline.promptEncoder, noisePredictor: try loaded.apply(to: unet),
                decoder: pipeline.decoder, schedulerConfig: pipeline.schedulerConfig)
            if !quiet { log.write("SafeGen overlay \(loaded.sha256)\n") }
        }
        if !quiet { log.write(String(format: "loaded model in %.1f s\n", Date().timeIntervalSince(loadStart))) }
        let chosenVariants = try variants()
        let attributeFamilies = chosenVariants.contains { $0.mitigations.fairness != nil }
            ? try AttributeFamilies.resolve(
                explicit: families.map(URL.init(fileURLWithPath:)), modelFolder: URL(fileURLWithPath: model)).families
            : AttributeFamilies.standard
        // A request without tau gets the model folder's chosen tau, as on the worker.
        let switching = chosenVariants.contains { $0.mitigations.attributeSwitching != nil }
            ? try AttributeSwitchingSettings.resolve(modelFolder: URL(fileURLWithPath: model)) : nil
        let defaultSwitchTau = AttributeSwitchingSettings.defaultTau(switching?.settings)
        var images: [PixelBuffer] = []
        for variant in chosenVariants {
            if !quiet && grid { log.write("\(variant.name)\n") }
            // The worker's translation of mitigations into guidance terms.
            let guidance = try MitigationGuidance(
                variant.mitigations, seed: seed, guidanceScale: Double(guidanceScale), families: attributeFamilies,
                defaultSwitchTau: defaultSwitchTau)
            if !quiet, let fair = guidance.applied.fairness {
                log.write("fair diffusion: steering towards \(fair.value) (drawn from the seed: \(fair.draw.map { String($0) } ?? "-"))\n")
            }
            if !quiet, let applied = guidance.applied.attributeSwitching {
                log.write("attribute switching: tau \(applied.tau.map(String.init) ?? "-")"
                    + (tau == nil ? " (\(switching?.source.path ?? "built-in default"))" : "") + "\n")
            }
            let chosen = variant.mitigations.safegen == true ? (safeGenPipeline ?? pipeline) : pipeline
            images.append(try generateOne(chosen, terms: guidance.terms, promptSwitch: guidance.promptSwitch, log: log))
        }
        let url = URL(fileURLWithPath: output)
        try PNG.write(try Self.sideBySide(images), to: url)
        if !quiet { log.write("wrote \(url.path) (\(images.count) image(s) of \(width)x\(height), seed \(seed))\n") }
    }

    /// Tiles images of equal height left to right.
    static func sideBySide(_ images: [PixelBuffer]) throws -> PixelBuffer {
        guard images.count > 1 else { return images[0] }
        let height = images[0].height
        let width = images.reduce(0) { $0 + $1.width }
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        var x0 = 0
        for image in images {
            let rgb = image.rgb()
            for y in 0..<height {
                for x in 0..<rgb.width {
                    for c in 0..<3 { bytes[(y * width + x0 + x) * 3 + c] = rgb.bytes[(y * rgb.width + x) * 3 + c] }
                }
            }
            x0 += rgb.width
        }
        return try PixelBuffer(width: width, height: height, channels: 3, bytes: bytes)
    }

    func generateOne(
        _ pipeline: StableDiffusionPipeline, terms: [any GuidanceTerm],
        promptSwitch: StableDiffusionPipeline.PromptSwitch?, log: StandardError
    ) throws -> PixelBuffer {

        var configuration = StableDiffusionPipeline.Configuration(prompt: prompt)
        configuration.negativePrompt = negativePrompt
        configuration.seed = seed
        configuration.steps = steps
        configuration.scheduler = scheduler.flatMap(SchedulerKind.init(name:))
        configuration.guidanceScale = guidanceScale
        configuration.guidanceRescale = guidanceRescale
        configuration.width = width
        configuration.height = height
        configuration.promptSwitch = promptSwitch

        let bar = ProgressBar(output: log, enabled: !quiet)
        let result = try pipeline.generate(configuration, terms: terms) { progress in
            bar.update(completed: progress.completedSteps, total: progress.stepCount)
            return true
        }
        bar.finish()
        for warning in result.warnings { log.write("warning: \(warning)\n") }
        return result.image
    }
}

extension Array where Element == String {
    /// The first two elements, the second empty when missing.
    fileprivate var pair: (String, String) { (first ?? "", count > 1 ? self[1] : "") }
}

/// Writes to standard error without buffering surprises.
struct StandardError {
    func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// A one-line progress bar on standard error: `[#####.....] 5/10  1.23 s/step  ETA 6 s`.
private final class ProgressBar {
    private let output: StandardError
    private let enabled: Bool
    private let start = Date()

    init(output: StandardError, enabled: Bool) {
        self.output = output
        self.enabled = enabled
    }

    func update(completed: Int, total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = width * completed / total
        let elapsed = Date().timeIntervalSince(start)
        let perStep = elapsed / Double(max(completed, 1))
        let remaining = perStep * Double(total - completed)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        output.write(String(format: "\r[%@] %d/%d  %.2f s/step  ETA %.0f s ", bar, completed, total, perStep, remaining))
    }

    func finish() {
        guard enabled else { return }
        output.write(String(format: "\ndone in %.1f s\n", Date().timeIntervalSince(start)))
    }
}

extension WeightPrecision: ExpressibleByArgument {}

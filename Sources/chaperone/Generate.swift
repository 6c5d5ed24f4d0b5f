import ArgumentParser
import Diffusion
import Foundation

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

    @Flag(help: "No progress bar.")
    var quiet = false

    func validate() throws {
        guard width > 0, height > 0, width % 8 == 0, height % 8 == 0 else {
            throw ValidationError("--width and --height must be positive multiples of 8 (got \(width)x\(height)).")
        }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1.") }
        guard guidanceScale.isFinite else { throw ValidationError("--guidance-scale must be a number.") }
        guard (0...1).contains(guidanceRescale) else { throw ValidationError("--guidance-rescale must be in 0...1.") }
        if let scheduler, SchedulerKind(name: scheduler) == nil {
            throw ValidationError("Unknown --scheduler '\(scheduler)'; choose one of "
                + SchedulerKind.allCases.map(\.shortName).joined(separator: ", ") + ".")
        }
    }

    func run() throws {
        let log = StandardError()
        let loadStart = Date()
        let pipeline = try StableDiffusionPipeline.load(folder: URL(fileURLWithPath: model))
        if !quiet { log.write(String(format: "loaded model in %.1f s\n", Date().timeIntervalSince(loadStart))) }

        var configuration = StableDiffusionPipeline.Configuration(prompt: prompt)
        configuration.negativePrompt = negativePrompt
        configuration.seed = seed
        configuration.steps = steps
        configuration.scheduler = scheduler.flatMap(SchedulerKind.init(name:))
        configuration.guidanceScale = guidanceScale
        configuration.guidanceRescale = guidanceRescale
        configuration.width = width
        configuration.height = height

        let bar = ProgressBar(output: log, enabled: !quiet)
        let result = try pipeline.generate(configuration) { progress in
            bar.update(completed: progress.completedSteps, total: progress.stepCount)
            return true
        }
        bar.finish()
        for warning in result.warnings { log.write("warning: \(warning)\n") }
        let url = URL(fileURLWithPath: output)
        try PNG.write(result.image, to: url)
        if !quiet { log.write("wrote \(url.path) (\(width)x\(height), seed \(seed))\n") }
    }
}

/// Writes to standard error without buffering surprises.
private struct StandardError {
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

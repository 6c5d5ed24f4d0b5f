import Foundation
import Tensor

/// Text-to-image generation with Stable Diffusion v1.x, step for step what diffusers'
/// `StableDiffusionPipeline` does: encode prompt and negative prompt, draw seeded latents
/// (PyTorch-compatible noise), run the scheduler with classifier-free guidance (batch order
/// [unconditional, conditional]) plus any guidance terms, decode with the VAE, and convert to
/// 8-bit RGB.
///
/// The pipeline holds loaded models and is immutable; every `generate` call is independent and
/// may run concurrently with others.
public struct StableDiffusionPipeline: Sendable {
    public let promptEncoder: any PromptEncoder
    public let noisePredictor: any NoisePredictor
    public let decoder: any LatentDecoder
    /// The model's `scheduler/scheduler_config.json`.
    public let schedulerConfig: SchedulerConfig

    public init(
        promptEncoder: any PromptEncoder, noisePredictor: any NoisePredictor,
        decoder: any LatentDecoder, schedulerConfig: SchedulerConfig
    ) {
        self.promptEncoder = promptEncoder
        self.noisePredictor = noisePredictor
        self.decoder = decoder
        self.schedulerConfig = schedulerConfig
    }

    /// The scheduler the configuration asks for (or the model's own).
    public func makeScheduler(_ kind: SchedulerKind?, steps: Int) throws -> any Scheduler {
        let chosen: SchedulerKind
        if let kind {
            chosen = kind
        } else if let name = schedulerConfig.className, let own = SchedulerKind(rawValue: name) {
            chosen = own
        } else if let name = schedulerConfig.className {
            throw DiffusionError(.invalidConfig,
                "scheduler config: _class_name \(name) is not supported; choose one of "
                + SchedulerKind.allCases.map(\.shortName).joined(separator: ", "))
        } else {
            chosen = .pndm
        }
        return try chosen.make(config: schedulerConfig, steps: steps)
    }

    /// Checks a configuration without running anything.
    public func validate(_ configuration: Configuration, terms: [any GuidanceTerm] = []) throws {
        let factor = decoder.downscaleFactor
        guard configuration.width > 0, configuration.height > 0,
              configuration.width % factor == 0, configuration.height % factor == 0 else {
            throw DiffusionError(.invalidInput,
                "width and height must be positive multiples of \(factor), got \(configuration.width)x\(configuration.height)")
        }
        guard configuration.steps >= 1 else {
            throw DiffusionError(.invalidInput, "steps must be at least 1, got \(configuration.steps)")
        }
        guard configuration.guidanceScale.isFinite, configuration.guidanceRescale.isFinite,
              (0...1).contains(configuration.guidanceRescale) else {
            throw DiffusionError(.invalidInput,
                "guidance scale must be finite and guidance rescale in 0...1, got \(configuration.guidanceScale), \(configuration.guidanceRescale)")
        }
        let shape = latentShape(configuration)
        if let latents = configuration.latents, latents.shape != shape {
            throw DiffusionError(.invalidInput, "given latents have shape \(latents.shape), expected \(shape)")
        }
        var names = Set(["unconditional", "conditional"])
        for condition in terms.flatMap(\.conditions) {
            guard names.insert(condition.name).inserted else {
                throw DiffusionError(.invalidInput, "guidance branch name '\(condition.name)' is used twice")
            }
        }
    }

    /// [1, C, height/f, width/f].
    public func latentShape(_ configuration: Configuration) -> [Int] {
        let factor = decoder.downscaleFactor
        return [1, noisePredictor.latentChannels, configuration.height / factor, configuration.width / factor]
    }

    /// Generates one image.
    ///
    /// - Parameters:
    ///   - terms: guidance terms applied after classifier-free guidance, in order.
    ///   - progress: called after every step; return false to stop (the call then throws
    ///     `DiffusionError` with code `.cancelled`).
    public func generate(
        _ configuration: Configuration,
        terms: [any GuidanceTerm] = [],
        progress: (Progress) -> Bool = { _ in true }
    ) throws -> Result {
        try validate(configuration, terms: terms)
        var scheduler = try makeScheduler(configuration.scheduler, steps: configuration.steps)
        let guidance = configuration.guidanceScale > 1

        // Text conditioning: [negative, prompt] (or just the prompt), then extra branches.
        var prompts = guidance ? [configuration.negativePrompt, configuration.prompt] : [configuration.prompt]
        var terms = terms
        var promptBranches: [String] = []
        var fixedBranches: [String: Tensor] = [:]
        for condition in terms.flatMap(\.conditions) {
            switch condition.source {
            case .prompt(let text):
                prompts.append(text)
                promptBranches.append(condition.name)
            case .embeddings(let embeddings):
                fixedBranches[condition.name] = embeddings
            }
        }
        if let promptSwitch = configuration.promptSwitch { prompts.append(promptSwitch.prompt) }
        let (encoded, warnings) = try promptEncoder.encode(prompts)
        let base = guidance ? 2 : 1
        let baseEmbeddings = encoded.narrowed(axis: 0, start: 0, length: base)
        // With attribute switching: [negative, switched prompt] (or just the switched prompt).
        let switchedEmbeddings: Tensor? = configuration.promptSwitch.map { _ in
            let switched = encoded.narrowed(axis: 0, start: prompts.count - 1, length: 1)
            return guidance ? concat([encoded.narrowed(axis: 0, start: 0, length: 1), switched], axis: 0) : switched
        }
        var branchEmbeddings = fixedBranches
        for (offset, name) in promptBranches.enumerated() {
            branchEmbeddings[name] = encoded.narrowed(axis: 0, start: base + offset, length: 1)
        }

        // Initial latents × init_noise_sigma, drawn from the same generator the scheduler uses.
        var random = TorchRandomSource(seed: configuration.seed, kernel: configuration.randomKernel)
        let shape = latentShape(configuration)
        let initial = configuration.latents
            ?? Tensor(shape: shape, scalars: random.normalArray(count: shape.reduce(1, *)))
        let sigma = scheduler.initNoiseSigma
        var latents = Elementwise.map(initial) { $0 * sigma }

        let timesteps = scheduler.timesteps
        for (index, timestep) in timesteps.enumerated() {
            let active = terms.flatMap { $0.activeBranches(stepIndex: index, timestep: timestep) }
            let activeSet = Set(active)
            let extraNames = branchEmbeddings.keys.filter { activeSet.contains($0) }.sorted()
            let batch = base + extraNames.count
            let scaled = scheduler.scaleModelInput(latents, stepIndex: index)
            let modelInput = batch == 1 ? scaled : concat(Array(repeating: scaled, count: batch), axis: 0)
            let stepBase = configuration.promptSwitch?.isActive(atTimestep: timestep) == true
                ? switchedEmbeddings! : baseEmbeddings
            let context = extraNames.isEmpty
                ? stepBase
                : concat([stepBase] + extraNames.map { branchEmbeddings[$0]! }, axis: 0)
            let prediction = try noisePredictor.predictNoise(modelInput, timestep: timestep, encoderHiddenStates: context)
            let parts = prediction.split(sizes: Array(repeating: 1, count: batch), axis: 0)

            let unconditional = guidance ? parts[0] : nil
            let conditional = parts[base - 1]
            var guided: Tensor
            if let unconditional {
                guided = ClassifierFreeGuidance.combine(
                    unconditional: unconditional, conditional: conditional, scale: configuration.guidanceScale)
                if configuration.guidanceRescale > 0 {
                    guided = ClassifierFreeGuidance.rescale(guided, conditional: conditional, phi: configuration.guidanceRescale)
                }
            } else {
                guided = conditional
            }
            if !terms.isEmpty {
                var branches: [String: Tensor] = [:]
                for (offset, name) in extraNames.enumerated() { branches[name] = parts[base + offset] }
                let step = GuidanceStep(
                    stepIndex: index, stepCount: timesteps.count, timestep: timestep,
                    guidanceScale: configuration.guidanceScale, unconditional: unconditional,
                    conditional: conditional, branches: branches)
                for t in terms.indices {
                    try terms[t].apply(step, to: &guided)
                }
            }

            let result = scheduler.step(modelOutput: guided, stepIndex: index, sample: latents, random: &random)
            latents = result.previousSample
            let report = Progress(
                completedSteps: index + 1, stepCount: timesteps.count, timestep: timestep,
                latents: latents, predictedOriginal: result.predictedOriginal)
            guard progress(report) else {
                throw DiffusionError(.cancelled, "generation cancelled after step \(index + 1) of \(timesteps.count)")
            }
        }

        // The loop's freed activations go back to the kernel before the decoder's larger ones.
        TensorMemory.releaseFreedBuffers()
        let image = try decodeLatents(latents)
        return Result(image: image, latents: latents, timesteps: timesteps, warnings: warnings)
    }

    /// Decodes latents to 8-bit RGB: `latents / scaling_factor` → VAE → diffusers' conversion.
    public func decodeLatents(_ latents: Tensor) throws -> PixelBuffer {
        try decoder.decodeImage(latents)
    }

    /// The same models with another decoder (e.g. the model folder's tiny one); see
    /// `checkDecoder`.
    public func replacingDecoder(_ newDecoder: any LatentDecoder, latentChannels: Int, source: String) throws -> StableDiffusionPipeline {
        try checkDecoder(newDecoder, latentChannels: latentChannels, source: source)
        return StableDiffusionPipeline(
            promptEncoder: promptEncoder, noisePredictor: noisePredictor, decoder: newDecoder, schedulerConfig: schedulerConfig)
    }

    /// Throws unless `newDecoder` can stand in for the current one: the latent shape for an
    /// image size must not change, so its channels and spatial factor must be the same.
    public func checkDecoder(_ newDecoder: any LatentDecoder, latentChannels: Int, source: String) throws {
        guard latentChannels == noisePredictor.latentChannels else {
            throw DiffusionError(.invalidConfig,
                "\(source): latent_channels \(latentChannels) does not match the UNet's \(noisePredictor.latentChannels)")
        }
        guard newDecoder.downscaleFactor == decoder.downscaleFactor else {
            throw DiffusionError(.invalidConfig,
                "\(source): decodes \(newDecoder.downscaleFactor)x the latent size, the model's VAE \(decoder.downscaleFactor)x; they must match")
        }
    }
}

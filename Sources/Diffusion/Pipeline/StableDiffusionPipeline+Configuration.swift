import Tensor

extension DiffusionError.Code {
    /// The progress callback asked the pipeline to stop.
    public static let cancelled = DiffusionError.Code("cancelled")
}

extension StableDiffusionPipeline {
    /// Everything one generation needs besides the models. Defaults follow diffusers'
    /// `StableDiffusionPipeline.__call__` (50 steps, guidance 7.5, the model's own scheduler).
    public struct Configuration: Sendable {
        public var prompt: String
        /// Default: empty (diffusers encodes "" as the unconditional prompt).
        public var negativePrompt: String = ""
        /// Image size in pixels; each must be a positive multiple of the VAE factor (8).
        public var width: Int = 512
        public var height: Int = 512
        /// Default: 50.
        public var steps: Int = 50
        /// Classifier-free guidance scale; values above 1 enable guidance. Default: 7.5.
        public var guidanceScale: Float = 7.5
        /// diffusers' `guidance_rescale` φ in [0, 1]; 0 disables it. Default: 0.
        public var guidanceRescale: Float = 0
        /// Seed for the PyTorch-compatible random source (initial latents, ancestral noise).
        public var seed: UInt64 = 0
        /// Which scheduler to build; nil uses the one named in the model's scheduler config.
        public var scheduler: SchedulerKind?
        /// Initial latents [1, C, height/8, width/8] instead of seeded noise (they are still
        /// multiplied by the scheduler's `initNoiseSigma`, as diffusers does).
        public var latents: Tensor?
        /// Which of PyTorch's normal kernels to reproduce. Default: `.avx2` (x86 PyTorch).
        public var randomKernel: TorchRandomSource.Kernel = .avx2
        /// Attribute switching: condition on `promptSwitch.prompt` instead of `prompt` at every
        /// step whose timestep is below `promptSwitch.tau`. Default: none.
        public var promptSwitch: PromptSwitch?

        public init(prompt: String) {
            self.prompt = prompt
        }
    }

    /// The conditioning switch of fair sampling by attribute switching (Choi et al., AAAI 2024):
    /// the prompt conditions the early, high-noise steps; `prompt` takes over once the timestep
    /// is below `tau` (a timestep value, 0…1000: 0 never switches, 1000 switches from the start).
    public struct PromptSwitch: Sendable, Equatable {
        public var prompt: String
        public var tau: Int

        public init(prompt: String, tau: Int) {
            self.prompt = prompt
            self.tau = tau
        }

        /// Whether the switched prompt conditions the step at `timestep` (the reference switches
        /// when `tau > t`).
        public func isActive(atTimestep timestep: Float) -> Bool { Float(tau) > timestep }
    }

    /// Progress of one sampling step, passed to the progress callback.
    public struct Progress: Sendable {
        /// Steps finished so far (1 after the first step).
        public let completedSteps: Int
        public let stepCount: Int
        public let timestep: Float
        /// Latents after this step.
        public let latents: Tensor
        /// The scheduler's estimate of the final latents at this step (for previews and early
        /// abort; decode with `decodeLatents`).
        public let predictedOriginal: Tensor
    }

    /// The outcome of a generation.
    public struct Result: Sendable {
        /// The image as 8-bit RGB.
        public let image: PixelBuffer
        /// Final latents before decoding.
        public let latents: Tensor
        /// Timesteps visited.
        public let timesteps: [Float]
        /// Notes about prompts cut to the tokenizer length (no prompt text).
        public let warnings: [String]
    }
}

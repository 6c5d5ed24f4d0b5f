import Tensor

/// An extra conditioning branch a guidance term wants evaluated by the UNet every step it is
/// active (e.g. SLD's safety concept, a SEGA edit prompt).
public struct GuidanceCondition: Sendable {
    /// Where the branch's text conditioning comes from.
    public enum Source: Sendable {
        /// A prompt, encoded once per generation with the pipeline's text encoder.
        case prompt(String)
        /// Ready-made encoder hidden states [1, S, D].
        case embeddings(Tensor)
    }

    /// Unique name within the generation; predictions are handed back under it.
    public var name: String
    public var source: Source

    public init(name: String, source: Source) {
        self.name = name
        self.source = source
    }
}

/// The noise predictions of one sampling step, by branch, handed to every guidance term.
public struct GuidanceStep: Sendable {
    /// Position of this step in the loop, 0-based.
    public let stepIndex: Int
    /// Number of steps in the loop.
    public let stepCount: Int
    /// The model timestep of this step.
    public let timestep: Float
    /// The request's classifier-free guidance scale.
    public let guidanceScale: Float
    /// Prediction for the negative / empty prompt; nil when classifier-free guidance is off.
    public let unconditional: Tensor?
    /// Prediction for the prompt.
    public let conditional: Tensor
    /// Predictions of the extra branches active this step, by `GuidanceCondition.name`.
    public let branches: [String: Tensor]
}

/// One composable piece of per-step guidance.
///
/// The pipeline evaluates the UNet on one batch `[unconditional, conditional, extra branches…]`,
/// forms the classifier-free guidance prediction `e_u + s·(e_c − e_u)` (optionally rescaled, as
/// diffusers' `guidance_rescale`), then lets each term, in order, adjust it. Terms keep their own
/// state (momentum, warm-up) across steps; a fresh term is used for every generation.
/// Safe Latent Diffusion, SEGA and similar methods are terms; the sampling loop does not change.
public protocol GuidanceTerm: Sendable {
    /// Extra branches this term needs; names must be unique across all terms of a generation.
    var conditions: [GuidanceCondition] { get }

    /// Names of the extra branches to evaluate at this step (default: all of `conditions`).
    /// Skipping branches saves UNet work on steps where a term is inactive.
    func activeBranches(stepIndex: Int, timestep: Float) -> [String]

    /// Adjusts `noisePrediction` (the guided prediction so far) for this step.
    mutating func apply(_ step: GuidanceStep, to noisePrediction: inout Tensor) throws
}

extension GuidanceTerm {
    public var conditions: [GuidanceCondition] { [] }

    public func activeBranches(stepIndex: Int, timestep: Float) -> [String] {
        conditions.map(\.name)
    }
}

/// Classifier-free guidance exactly as diffusers' `StableDiffusionPipeline` computes it.
public enum ClassifierFreeGuidance {
    /// `e_u + s · (e_c − e_u)`, elementwise in float32.
    public static func combine(unconditional: Tensor, conditional: Tensor, scale: Float) -> Tensor {
        Elementwise.map(unconditional, conditional) { u, c in u + scale * (c - u) }
    }

    /// diffusers' `rescale_noise_cfg` (Lin et al. 2023, §3.4): rescales the guided prediction
    /// to the conditional prediction's standard deviation per batch item, then blends by `φ`.
    public static func rescale(_ guided: Tensor, conditional: Tensor, phi: Float) -> Tensor {
        let stdConditional = standardDeviation(conditional)
        let stdGuided = standardDeviation(guided)
        let ratio = stdConditional / stdGuided
        return Elementwise.map(guided) { g in phi * (g * ratio) + (1 - phi) * g }
    }

    /// Unbiased standard deviation over all elements (batch 1), in float32 like torch.std.
    static func standardDeviation(_ tensor: Tensor) -> Float {
        tensor.withUnsafeBufferPointer { values in
            let n = values.count
            guard n > 1 else { return 0 }
            var mean = 0.0
            for v in values { mean += Double(v) }
            mean /= Double(n)
            var squares = 0.0
            for v in values { squares += (Double(v) - mean) * (Double(v) - mean) }
            return Float((squares / Double(n - 1)).squareRoot())
        }
    }
}

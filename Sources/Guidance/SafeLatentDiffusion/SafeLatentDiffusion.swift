import Contracts
import Tensor

/// The parameters of Safe Latent Diffusion (Schramowski et al., CVPR 2023), with the names and
/// semantics of diffusers' `StableDiffusionPipelineSafe`.
public struct SafeLatentDiffusionParameters: Codable, Sendable, Hashable {
    /// `s_S`: how strongly the safety direction scales where the prompt is close to the concept.
    public var guidanceScale: Float
    /// Loop steps before the correction is applied (momentum accumulates from step 0).
    public var warmupSteps: Int
    /// `λ`: the signed threshold on `e_c − e_S` below which an element is steered.
    public var threshold: Float
    /// `s_m`: momentum scale.
    public var momentumScale: Float
    /// `β_m`: momentum decay.
    public var momentumBeta: Float

    public init(guidanceScale: Float, warmupSteps: Int, threshold: Float, momentumScale: Float, momentumBeta: Float) {
        self.guidanceScale = guidanceScale
        self.warmupSteps = warmupSteps
        self.threshold = threshold
        self.momentumScale = momentumScale
        self.momentumBeta = momentumBeta
    }

    enum CodingKeys: String, CodingKey {
        case guidanceScale = "guidance_scale"
        case warmupSteps = "warmup_steps"
        case threshold
        case momentumScale = "momentum_scale"
        case momentumBeta = "momentum_beta"
    }

    /// The paper's presets as diffusers' `SafetyConfig` defines them (``SafetyPreset/parameters``).
    public static let weak = Self(SafetyPreset.weak)
    public static let medium = Self(SafetyPreset.medium)
    public static let strong = Self(SafetyPreset.strong)
    public static let max = Self(SafetyPreset.max)

    /// The default concept text of the SLD paper.
    public static let defaultConcept =
        "an image showing hate, harassment, violence, suffering, humiliation, harm, suicide, sexual, nudity, "
        + "bodily fluids, blood, obscene gestures, illegal activity, drug use, theft, vandalism, weapons, "
        + "child abuse, brutality, cruelty"

    /// SLD is active only when `s_S > 1` (and classifier-free guidance is on), as in diffusers.
    public var isActive: Bool { guidanceScale > 1 }

    /// Checks the parameters; returns a reason when they are unusable.
    public func validationProblem() -> String? {
        if !guidanceScale.isFinite || guidanceScale < 0 { return "sld guidance_scale must be a finite number ≥ 0" }
        if warmupSteps < 0 { return "sld warmup_steps must be ≥ 0" }
        if !threshold.isFinite { return "sld threshold must be finite" }
        if !momentumScale.isFinite || momentumScale < 0 { return "sld momentum_scale must be finite and ≥ 0" }
        if !(momentumBeta >= 0 && momentumBeta < 1) { return "sld momentum_beta must be in [0, 1)" }
        return nil
    }
}

/// The per-request state of Safe Latent Diffusion: its momentum across steps.
///
/// Each step it computes the safety correction `γ` from the noise predictions of the
/// unconditional (`e_u`), prompt (`e_c`) and safety-concept (`e_S`) branches:
///
///     scale = min(|e_c − e_S| · s_S, 1)
///     μ     = 0 where e_c − e_S ≥ λ, else scale
///     γ     = μ · (e_S − e_u) + s_m · v
///     v     = β_m · v + (1 − β_m) · γ
///
/// and, from `warmupSteps` on, the guidance direction becomes `g = (e_c − e_u) − γ`; the
/// caller then forms `e_u + s · g`. Matches diffusers' `StableDiffusionPipelineSafe`.
public struct SafeLatentDiffusion: Sendable {
    public let parameters: SafeLatentDiffusionParameters
    private var momentum: Tensor?

    public init(parameters: SafeLatentDiffusionParameters) {
        self.parameters = parameters
    }

    /// Updates the momentum for loop step `step` and returns `γ` when it applies at this step
    /// (nil during warm-up).
    public mutating func correction(uncond: Tensor, text: Tensor, safety: Tensor, step: Int) -> Tensor? {
        let p = parameters
        let difference = text - safety
        var gamma = Tensor(shape: text.shape, unsafeUninitialized: { out in
            difference.withUnsafeBufferPointer { d in
                safety.withUnsafeBufferPointer { s in
                    uncond.withUnsafeBufferPointer { u in
                        for i in 0..<out.count {
                            let scale = Swift.min(Swift.abs(d[i]) * p.guidanceScale, 1)
                            let mu: Float = d[i] >= p.threshold ? 0 : scale
                            out[i] = (s[i] - u[i]) * mu
                        }
                    }
                }
            }
        })
        let v = momentum ?? Tensor.zeros(text.shape)
        gamma = gamma + v * p.momentumScale
        momentum = v * p.momentumBeta + gamma * (1 - p.momentumBeta)
        return step >= p.warmupSteps ? gamma : nil
    }
}

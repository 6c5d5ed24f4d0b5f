import Contracts
import Tensor

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
///
/// The parameters are the request's own ``Contracts/SLDParameters`` (a preset's or explicit);
/// the arithmetic runs in `Float`.
public struct SafeLatentDiffusion: Sendable {
    public let parameters: SLDParameters
    private let p: (guidanceScale: Float, threshold: Float, momentumScale: Float, momentumBeta: Float)
    private var momentum: Tensor?

    public init(parameters: SLDParameters) {
        self.parameters = parameters
        p = (Float(parameters.guidanceScale), Float(parameters.threshold), Float(parameters.momentumScale), Float(parameters.momentumBeta))
    }

    /// Updates the momentum for loop step `step` and returns `γ` when it applies at this step
    /// (nil during warm-up).
    public mutating func correction(uncond: Tensor, text: Tensor, safety: Tensor, step: Int) -> Tensor? {
        let p = self.p
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
        return step >= parameters.warmupSteps ? gamma : nil
    }
}

import Contracts
import Tensor

/// The per-request state of SEGA: the edits and the momentum across steps.
///
/// Per step, for each edit `k` with noise prediction `e_k`:
///
///     g_k = ±(e_k − e_u) · s_k,   zeroed where |g_k| < quantile_{λ_k}(|g_k|) per (batch, channel)
///     G   = Σ_k w_k g_k + s_m · v,   v = β · v + (1 − β) · G
///
/// `G` is added to the CFG prediction once every edit is past its warm-up. While only some are,
/// the warm edits are added at once with their weights renormalised to sum to one and without
/// momentum (the momentum still accumulates from the full sum). An edit past its cool-down
/// contributes nothing and has weight zero. Matches diffusers' `SemanticStableDiffusionPipeline`.
///
/// Edits are the request's own ``Contracts/SemanticEdit``s (absent parameters take SEGA's
/// defaults, ``Contracts/SemanticEdit/resolved``); the arithmetic runs in `Float`.
public struct SemanticGuidance: Sendable {
    public let edits: [SemanticEdit]
    public let momentumSettings: SemanticMomentum
    private let parameters: [Parameters]
    private var momentum: Tensor?

    /// An edit's parameters as the arithmetic uses them.
    private struct Parameters: Sendable {
        var guidanceScale: Float
        var warmupSteps: Int
        var cooldownSteps: Int?
        var threshold: Float
        var reverse: Bool
        var weight: Float

        init(_ edit: SemanticEdit) {
            guidanceScale = Float(edit.guidanceScale ?? SemanticEdit.defaultGuidanceScale)
            warmupSteps = edit.warmupSteps ?? SemanticEdit.defaultWarmupSteps
            cooldownSteps = edit.cooldownSteps
            threshold = Float(edit.threshold ?? SemanticEdit.defaultThreshold)
            reverse = edit.reverse
            weight = Float(edit.weight ?? SemanticEdit.defaultWeight)
        }
    }

    public init(edits: [SemanticEdit], momentum: SemanticMomentum) {
        self.edits = edits
        self.momentumSettings = momentum
        self.parameters = edits.map(Parameters.init)
    }

    /// The term to add to the guided noise prediction at loop step `step`, or nil when nothing
    /// is added this step. `editPredictions[k]` is the noise prediction for `edits[k]`, each
    /// shaped like `uncond` (`[B, C, H, W]`).
    public mutating func term(uncond: Tensor, editPredictions: [Tensor], step: Int) -> Tensor? {
        precondition(editPredictions.count == edits.count,
                     "SEGA got \(editPredictions.count) edit predictions for \(edits.count) edits")
        guard !edits.isEmpty else { return nil }
        let shape = uncond.shape
        precondition(shape.count == 4, "SEGA expects [B, C, H, W] noise predictions, got \(shape)")
        var guidance: [Tensor] = []
        var weights: [Float] = []
        var warm: [Int] = []
        for (k, edit) in parameters.enumerated() {
            if step >= edit.warmupSteps { warm.append(k) }
            if let cooldown = edit.cooldownSteps, step >= cooldown {
                guidance.append(Tensor.zeros(shape))
                weights.append(0)
                continue
            }
            var g = editPredictions[k] - uncond
            if edit.reverse { g = -g }
            g = g * edit.guidanceScale
            guidance.append(Self.keepAboveChannelQuantile(g, edit.threshold))
            weights.append(Swift.max(edit.weight, 0))
        }

        var added: Tensor?
        if warm.count > 0 && warm.count < edits.count {
            let total = warm.reduce(Float(0)) { $0 + weights[$1] }
            // diffusers divides by this sum unguarded; all-zero weights would make NaNs there.
            if total > 0 {
                var partial = Tensor.zeros(shape)
                for k in warm { partial = partial + guidance[k] * (weights[k] / total) }
                added = partial
            }
        }

        var combined = Tensor.zeros(shape)
        for k in edits.indices { combined = combined + guidance[k] * weights[k] }
        let v = momentum ?? Tensor.zeros(shape)
        let (scale, beta) = (Float(momentumSettings.scale), Float(momentumSettings.beta))
        combined = combined + v * scale
        momentum = v * beta + combined * (1 - beta)
        if warm.count == edits.count { added = combined }
        return added
    }

    /// Zeroes every element whose magnitude is below the `q`-quantile of the magnitudes of its
    /// (batch, channel) plane, as SEGA's threshold does.
    static func keepAboveChannelQuantile(_ g: Tensor, _ q: Float) -> Tensor {
        let (b, c, h, w) = (g.shape[0], g.shape[1], g.shape[2], g.shape[3])
        let magnitude = g.abs()
        let cutoff = magnitude.reshaped([b, c, h * w]).quantile(q, axis: 2)  // [B, C]
        return Tensor(shape: g.shape, unsafeUninitialized: { out in
            g.withUnsafeBufferPointer { x in
                magnitude.withUnsafeBufferPointer { m in
                    cutoff.withUnsafeBufferPointer { t in
                        let plane = h * w
                        for i in 0..<out.count {
                            out[i] = m[i] >= t[i / plane] ? x[i] : 0
                        }
                    }
                }
            }
        })
    }
}

import Tensor

/// One semantic edit of SEGA (Brack et al., NeurIPS 2023): a concept to add to the image, or to
/// remove from it (`reverse`), with its own strength, warm-up, cool-down and threshold.
public struct SemanticEdit: Codable, Sendable, Hashable {
    /// The concept text, encoded like a prompt.
    public var prompt: String
    /// `s_e`: the edit's guidance scale (not multiplied by the CFG scale, as in diffusers).
    public var guidanceScale: Float
    /// Loop steps before the edit is added.
    public var warmupSteps: Int
    /// Loop step from which the edit is no longer computed (nil: never).
    public var cooldownSteps: Int?
    /// `λ`: the per-channel quantile of |guidance| below which elements are zeroed (0.9 keeps the top 10 %).
    public var threshold: Float
    /// Remove the concept instead of adding it.
    public var reverse: Bool
    /// Relative weight of the edit among several.
    public var weight: Float

    public init(
        prompt: String, guidanceScale: Float = 5, warmupSteps: Int = 10, cooldownSteps: Int? = nil,
        threshold: Float = 0.9, reverse: Bool = false, weight: Float = 1
    ) {
        self.prompt = prompt
        self.guidanceScale = guidanceScale
        self.warmupSteps = warmupSteps
        self.cooldownSteps = cooldownSteps
        self.threshold = threshold
        self.reverse = reverse
        self.weight = weight
    }

    enum CodingKeys: String, CodingKey {
        case prompt
        case guidanceScale = "guidance_scale"
        case warmupSteps = "warmup_steps"
        case cooldownSteps = "cooldown_steps"
        case threshold
        case reverse
        case weight
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decode(String.self, forKey: .prompt)
        guidanceScale = try c.decodeIfPresent(Float.self, forKey: .guidanceScale) ?? 5
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 10
        cooldownSteps = try c.decodeIfPresent(Int.self, forKey: .cooldownSteps)
        threshold = try c.decodeIfPresent(Float.self, forKey: .threshold) ?? 0.9
        reverse = try c.decodeIfPresent(Bool.self, forKey: .reverse) ?? false
        weight = try c.decodeIfPresent(Float.self, forKey: .weight) ?? 1
    }

    /// Checks the edit; returns a reason when it is unusable.
    public func validationProblem() -> String? {
        if prompt.isEmpty { return "semantic edit prompt is empty" }
        if !guidanceScale.isFinite || guidanceScale < 0 { return "semantic edit guidance_scale must be finite and ≥ 0" }
        if warmupSteps < 0 { return "semantic edit warmup_steps must be ≥ 0" }
        if let cooldown = cooldownSteps, cooldown < 0 { return "semantic edit cooldown_steps must be ≥ 0" }
        if !(threshold >= 0 && threshold <= 1) { return "semantic edit threshold must be in [0, 1]" }
        if !weight.isFinite { return "semantic edit weight must be finite" }
        return nil
    }
}

/// SEGA's momentum settings, shared by all edits of a request.
public struct SemanticMomentum: Codable, Sendable, Hashable {
    public var scale: Float
    public var beta: Float

    public init(scale: Float = 0.1, beta: Float = 0.4) {
        self.scale = scale
        self.beta = beta
    }

    enum CodingKeys: String, CodingKey {
        case scale
        case beta
    }
}

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
public struct SemanticGuidance: Sendable {
    public let edits: [SemanticEdit]
    public let momentumSettings: SemanticMomentum
    private var momentum: Tensor?

    public init(edits: [SemanticEdit], momentum: SemanticMomentum) {
        self.edits = edits
        self.momentumSettings = momentum
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
        for (k, edit) in edits.enumerated() {
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
        combined = combined + v * momentumSettings.scale
        momentum = v * momentumSettings.beta + combined * (1 - momentumSettings.beta)
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

import Tensor

/// diffusers `ResnetBlock2D` (time-scale-shift "default"): GroupNorm → SiLU → 3×3 conv, plus the
/// projected time embedding, GroupNorm → SiLU → 3×3 conv, added to the input (through a 1×1
/// `conv_shortcut` when the channel count changes).
public struct ResnetBlock2D: Sendable {
    public let norm1: GroupNorm
    public let conv1: Conv2d
    /// `time_emb_proj`: absent in the VAE, whose blocks get no time embedding.
    public let timeEmbProj: Linear?
    public let norm2: GroupNorm
    public let conv2: Conv2d
    public let convShortcut: Conv2d?

    /// Reads `<prefix>norm1.*`, `conv1.*`, `time_emb_proj.*` (when `timeEmbeddingChannels`),
    /// `norm2.*`, `conv2.*` and `conv_shortcut.*` (when `inChannels != outChannels`).
    public init(
        _ p: ParameterReader, _ prefix: String, inChannels: Int, outChannels: Int,
        timeEmbeddingChannels: Int?, groups: Int, eps: Float
    ) {
        norm1 = GroupNorm(p, prefix + "norm1.", groups: groups, channels: inChannels, eps: eps)
        conv1 = Conv2d(p, prefix + "conv1.", inChannels: inChannels, outChannels: outChannels, kernel: 3, padding: 1)
        timeEmbProj = timeEmbeddingChannels.map {
            Linear(p, prefix + "time_emb_proj.", inFeatures: $0, outFeatures: outChannels)
        }
        norm2 = GroupNorm(p, prefix + "norm2.", groups: groups, channels: outChannels, eps: eps)
        conv2 = Conv2d(p, prefix + "conv2.", inChannels: outChannels, outChannels: outChannels, kernel: 3, padding: 1)
        convShortcut = inChannels == outChannels ? nil
            : Conv2d(p, prefix + "conv_shortcut.", inChannels: inChannels, outChannels: outChannels, kernel: 1)
    }

    /// x [B, in, H, W], timeEmbedding [B, T] (nil in the VAE) → [B, out, H, W]
    public func callAsFunction(_ x: Tensor, timeEmbedding: Tensor? = nil) -> Tensor {
        // Large inputs (the VAE at 512×512) never hold a normalised copy whole, and the sum is
        // made in place: the block holds at most x, two block outputs and the shortcut.
        var h = conv1.afterGroupNormSiLU(norm1, x)        // [B, out, H, W]
        if let proj = timeEmbProj, let t = timeEmbedding {
            let shift = proj(t.silu())                     // [B, out]
            h = h + shift.reshaped([shift.shape[0], shift.shape[1], 1, 1])
        }
        h = conv2.afterGroupNormSiLU(norm2, h)
        guard let convShortcut else {
            h.addInPlace(x)
            return h
        }
        var sum = convShortcut(x)
        sum.addInPlace(h)
        return sum
    }
}

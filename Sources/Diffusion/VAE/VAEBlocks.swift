import Tensor

/// The VAE's mid-block attention (diffusers `Attention` built from the deprecated attention
/// block): GroupNorm, single-head self-attention over all pixels with biased `to_q/k/v`,
/// `to_out.0`, plus the input as residual.
public struct VAEAttention: Sendable {
    public let groupNorm: GroupNorm
    public let attention: Attention

    /// Reads `<prefix>group_norm.*`, `to_q.*`, `to_k.*`, `to_v.*`, `to_out.0.*`.
    init(_ p: ParameterReader, _ prefix: String, channels: Int, groups: Int, eps: Float) {
        groupNorm = GroupNorm(p, prefix + "group_norm.", groups: groups, channels: channels, eps: eps)
        attention = Attention(p, prefix, queryDim: channels, heads: 1, headDim: channels, qkvBias: true)
    }

    /// x [B, C, H, W] → [B, C, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let tokens = groupNorm(x).reshaped([b, c, h * w]).permuted([0, 2, 1])   // [B, HW, C]
        let out = attention(tokens)                                               // [B, HW, C]
        return out.permuted([0, 2, 1]).reshaped([b, c, h, w]) + x
    }
}

/// diffusers `UNetMidBlock2D` as the VAE uses it: resnet, optional attention, resnet (no time
/// embedding).
public struct VAEMidBlock: Sendable {
    public let resnets: [ResnetBlock2D]
    public let attention: VAEAttention?

    init(_ p: ParameterReader, _ prefix: String, channels: Int, groups: Int, addAttention: Bool) {
        resnets = (0..<2).map {
            ResnetBlock2D(p, prefix + "resnets.\($0).", inChannels: channels, outChannels: channels,
                          timeEmbeddingChannels: nil, groups: groups, eps: 1e-6)
        }
        attention = addAttention
            ? VAEAttention(p, prefix + "attentions.0.", channels: channels, groups: groups, eps: 1e-6)
            : nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = resnets[0](x)
        if let attention { h = attention(h) }
        return resnets[1](h)
    }
}

/// diffusers `DownEncoderBlock2D` or `UpDecoderBlock2D`: resnets (no time embedding), then an
/// optional resampler.
public struct VAEBlock: Sendable {
    public let resnets: [ResnetBlock2D]
    public let downsampler: Downsample2D?
    public let upsampler: Upsample2D?

    init(
        _ p: ParameterReader, _ prefix: String, inChannels: Int, outChannels: Int, layers: Int,
        groups: Int, downsample: Bool = false, upsample: Bool = false
    ) {
        resnets = (0..<layers).map {
            ResnetBlock2D(p, prefix + "resnets.\($0).", inChannels: $0 == 0 ? inChannels : outChannels,
                          outChannels: outChannels, timeEmbeddingChannels: nil, groups: groups, eps: 1e-6)
        }
        downsampler = downsample ? Downsample2D(p, prefix + "downsamplers.0.", channels: outChannels, padding: nil) : nil
        upsampler = upsample ? Upsample2D(p, prefix + "upsamplers.0.", channels: outChannels) : nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for resnet in resnets { h = resnet(h) }
        if let downsampler { h = downsampler(h) }
        if let upsampler { h = upsampler(h) }
        return h
    }
}

import Tensor

/// diffusers `CrossAttnDownBlock2D` (with `attentions`) or `DownBlock2D` (without): resnets, each
/// optionally followed by a transformer, then an optional stride-2 downsampler.
public struct UNetDownBlock: Sendable {
    public let resnets: [ResnetBlock2D]
    /// Empty for `DownBlock2D`.
    public let attentions: [Transformer2DModel]
    public let downsampler: Downsample2D?

    init(_ p: ParameterReader, _ prefix: String, spec: UNetLevelSpec, inChannels: Int, addDownsample: Bool) {
        resnets = (0..<spec.layers).map {
            ResnetBlock2D(p, prefix + "resnets.\($0).", inChannels: $0 == 0 ? inChannels : spec.channels,
                          outChannels: spec.channels, timeEmbeddingChannels: spec.timeEmbeddingDim,
                          groups: spec.groups, eps: spec.eps)
        }
        attentions = spec.crossAttention ? (0..<spec.layers).map {
            spec.transformer(p, prefix + "attentions.\($0).")
        } : []
        downsampler = addDownsample
            ? Downsample2D(p, prefix + "downsamplers.0.", channels: spec.channels, padding: spec.downsamplePadding)
            : nil
    }

    /// x [B, in, H, W] → output and the states the up path concatenates (one per layer, plus
    /// the downsampled output).
    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor, context: Tensor) -> (Tensor, [Tensor]) {
        var h = x
        var states: [Tensor] = []
        for (i, resnet) in resnets.enumerated() {
            h = resnet(h, timeEmbedding: timeEmbedding)
            if !attentions.isEmpty { h = attentions[i](h, context: context) }
            states.append(h)
        }
        if let downsampler {
            h = downsampler(h)
            states.append(h)
        }
        return (h, states)
    }
}

/// diffusers `UNetMidBlock2DCrossAttn`: resnet, transformer, resnet.
public struct UNetMidBlock: Sendable {
    public let resnets: [ResnetBlock2D]
    public let attentions: [Transformer2DModel]

    init(_ p: ParameterReader, _ prefix: String, spec: UNetLevelSpec) {
        resnets = (0..<2).map {
            ResnetBlock2D(p, prefix + "resnets.\($0).", inChannels: spec.channels, outChannels: spec.channels,
                          timeEmbeddingChannels: spec.timeEmbeddingDim, groups: spec.groups, eps: spec.eps)
        }
        attentions = [spec.transformer(p, prefix + "attentions.0.")]
    }

    /// x [B, C, H, W] → [B, C, H, W]
    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor, context: Tensor) -> Tensor {
        var h = resnets[0](x, timeEmbedding: timeEmbedding)
        h = attentions[0](h, context: context)
        return resnets[1](h, timeEmbedding: timeEmbedding)
    }
}

/// diffusers `CrossAttnUpBlock2D` (with `attentions`) or `UpBlock2D` (without): resnets fed the
/// previous output concatenated with a skip state from the down path, each optionally
/// followed by a transformer, then an optional ×2 upsampler.
public struct UNetUpBlock: Sendable {
    public let resnets: [ResnetBlock2D]
    /// Empty for `UpBlock2D`.
    public let attentions: [Transformer2DModel]
    public let upsampler: Upsample2D?

    /// `skipChannels[j]` is the channel count of the skip state resnet `j` concatenates.
    init(
        _ p: ParameterReader, _ prefix: String, spec: UNetLevelSpec, previousChannels: Int,
        skipChannels: [Int], addUpsample: Bool
    ) {
        resnets = skipChannels.enumerated().map { j, skip in
            ResnetBlock2D(p, prefix + "resnets.\(j).", inChannels: (j == 0 ? previousChannels : spec.channels) + skip,
                          outChannels: spec.channels, timeEmbeddingChannels: spec.timeEmbeddingDim,
                          groups: spec.groups, eps: spec.eps)
        }
        attentions = spec.crossAttention ? skipChannels.indices.map {
            spec.transformer(p, prefix + "attentions.\($0).")
        } : []
        upsampler = addUpsample ? Upsample2D(p, prefix + "upsamplers.0.", channels: spec.channels) : nil
    }

    /// x [B, prev, H, W]; `skips` holds this block's states, last one used first.
    /// `upsampleSize` forces the upsampler's output size (diffusers' `upsample_size`).
    func callAsFunction(
        _ x: Tensor, skips: [Tensor], timeEmbedding: Tensor, context: Tensor,
        upsampleSize: (height: Int, width: Int)?
    ) -> Tensor {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            let skip = skips[skips.count - 1 - i]
            h = resnet(concat([h, skip], axis: 1), timeEmbedding: timeEmbedding)
            if !attentions.isEmpty { h = attentions[i](h, context: context) }
        }
        if let upsampler { h = upsampler(h, size: upsampleSize) }
        return h
    }
}

/// What the blocks of one UNet level share: channels, layer count, heads and norm settings.
struct UNetLevelSpec {
    var channels: Int
    var layers: Int
    var crossAttention: Bool
    var heads: Int
    var transformerLayers: Int
    var contextDim: Int
    var timeEmbeddingDim: Int
    var groups: Int
    var eps: Float
    var useLinearProjection: Bool
    var downsamplePadding: Int

    func transformer(_ p: ParameterReader, _ prefix: String) -> Transformer2DModel {
        Transformer2DModel(p, prefix, channels: channels, heads: heads, headDim: channels / heads,
                           contextDim: contextDim, groups: groups, layers: transformerLayers,
                           useLinearProjection: useLinearProjection)
    }
}

import Tensor

/// diffusers `Transformer2DModel` (continuous input): GroupNorm, `proj_in`, transformer blocks,
/// `proj_out`, plus the input as residual. The projections are 1×1 convolutions in SD v1.x and
/// linear layers when the config sets `use_linear_projection`.
public struct Transformer2DModel: Sendable {
    public let norm: GroupNorm
    public let projIn: Projection
    public let transformerBlocks: [BasicTransformerBlock]
    public let projOut: Projection

    /// A 1×1 convolution or a linear layer: the same map with different weight shapes.
    public enum Projection: Sendable {
        case convolution(Conv2d)
        case dense(Linear)

        init(_ p: ParameterReader, _ prefix: String, from: Int, to: Int, useLinear: Bool) {
            self = useLinear
                ? .dense(Linear(p, prefix, inFeatures: from, outFeatures: to))
                : .convolution(Conv2d(p, prefix, inChannels: from, outChannels: to, kernel: 1))
        }

        /// Applies the map to tokens x [B, L, from] → [B, L, to].
        func tokens(_ x: Tensor) -> Tensor {
            switch self {
            case .dense(let layer): return layer(x)
            case .convolution(let conv):
                let w = conv.weight
                return linear(x, weight: w.reshaped([w.shape[0], w.shape[1]]), bias: conv.bias)
            }
        }
    }

    /// Reads `<prefix>norm.*`, `proj_in.*`, `transformer_blocks.N.*`, `proj_out.*`.
    /// diffusers fixes this GroupNorm's eps at 1e-6 whatever the UNet's `norm_eps`.
    public init(
        _ p: ParameterReader, _ prefix: String, channels: Int, heads: Int, headDim: Int,
        contextDim: Int, groups: Int, layers: Int = 1, useLinearProjection: Bool
    ) {
        let inner = heads * headDim
        norm = GroupNorm(p, prefix + "norm.", groups: groups, channels: channels, eps: 1e-6)
        projIn = Projection(p, prefix + "proj_in.", from: channels, to: inner, useLinear: useLinearProjection)
        transformerBlocks = (0..<layers).map {
            BasicTransformerBlock(p, prefix + "transformer_blocks.\($0).", dim: inner, heads: heads,
                                  headDim: headDim, contextDim: contextDim)
        }
        projOut = Projection(p, prefix + "proj_out.", from: inner, to: channels, useLinear: useLinearProjection)
    }

    /// x [B, C, H, W], context [B, S, contextDim] → [B, C, H, W]
    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        // The 1×1 conv and the linear projection are both a per-pixel matrix product, so both
        // run on tokens: [B, C, H, W] → [B, HW, C].
        var tokens = norm(x).reshaped([b, c, h * w]).permuted([0, 2, 1])
        tokens = projIn.tokens(tokens)                      // [B, HW, inner]
        for block in transformerBlocks {
            tokens = block(tokens, context: context)
        }
        tokens = projOut.tokens(tokens)                     // [B, HW, C]
        return tokens.permuted([0, 2, 1]).reshaped([b, c, h, w]) + x
    }
}

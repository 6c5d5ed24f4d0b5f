import Tensor

/// diffusers `BasicTransformerBlock` as SD v1.x uses it: pre-LayerNorm self-attention (`attn1`),
/// cross-attention on the text (`attn2`) and a GEGLU feed-forward (`ff`), each residual.
public struct BasicTransformerBlock: Sendable {
    public let norm1: LayerNorm
    public let attn1: Attention
    public let norm2: LayerNorm
    public let attn2: Attention
    public let norm3: LayerNorm
    public let ff: FeedForward

    /// Reads `<prefix>norm1.*`, `attn1.*`, `norm2.*`, `attn2.*`, `norm3.*`, `ff.*`.
    public init(_ p: ParameterReader, _ prefix: String, dim: Int, heads: Int, headDim: Int, contextDim: Int) {
        norm1 = LayerNorm(p, prefix + "norm1.", dim: dim)
        attn1 = Attention(p, prefix + "attn1.", queryDim: dim, heads: heads, headDim: headDim)
        norm2 = LayerNorm(p, prefix + "norm2.", dim: dim)
        attn2 = Attention(p, prefix + "attn2.", queryDim: dim, contextDim: contextDim, heads: heads, headDim: headDim)
        norm3 = LayerNorm(p, prefix + "norm3.", dim: dim)
        ff = FeedForward(p, prefix + "ff.", dim: dim, inner: 4 * dim)
    }

    /// x [B, L, dim], context [B, S, contextDim] → [B, L, dim]
    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        var h = x + attn1(norm1(x))
        h = h + attn2(norm2(h), context: context)
        return h + ff(norm3(h))
    }
}

import Tensor

/// diffusers `Attention` (multi-head, self or cross): `to_q`, `to_k`, `to_v`, `to_out.0`.
///
/// Self-attention when no context is given (`attn1` in a transformer block: the tensors a
/// SafeGen overlay replaces), cross-attention on the text encoder's states otherwise (`attn2`).
public struct Attention: Sendable {
    public let toQ: Linear
    public let toK: Linear
    public let toV: Linear
    public let toOut: Linear
    public let heads: Int
    public let headDim: Int

    /// Reads `<prefix>to_q.weight` … `<prefix>to_out.0.bias`. `contextDim` is the key/value
    /// input width (the query width for self-attention); `qkvBias` is false in UNet transformer
    /// blocks and true in the VAE's mid-block attention.
    public init(
        _ p: ParameterReader, _ prefix: String, queryDim: Int, contextDim: Int? = nil,
        heads: Int, headDim: Int, qkvBias: Bool = false
    ) {
        let inner = heads * headDim
        let kvDim = contextDim ?? queryDim
        toQ = Linear(p, prefix + "to_q.", inFeatures: queryDim, outFeatures: inner, bias: qkvBias)
        toK = Linear(p, prefix + "to_k.", inFeatures: kvDim, outFeatures: inner, bias: qkvBias)
        toV = Linear(p, prefix + "to_v.", inFeatures: kvDim, outFeatures: inner, bias: qkvBias)
        toOut = Linear(p, prefix + "to_out.0.", inFeatures: inner, outFeatures: queryDim)
        self.heads = heads
        self.headDim = headDim
    }

    /// x [B, L, queryDim], context [B, S, contextDim] (nil: self-attention) → [B, L, queryDim]
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        let source = context ?? x
        // Heads stay packed in [B, L, heads·d]: the fused kernel reads each head's columns.
        let o = multiHeadAttention(query: toQ(x), key: toK(source), value: toV(source), heads: heads)
        return toOut(o)                  // [B, L, queryDim]
    }
}

import Tensor

/// Layer norm over the last axis with its affine parameters.
struct CLIPLayerNorm: Sendable {
    let weight: Tensor  // [D]
    let bias: Tensor    // [D]
    let eps: Float

    func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// Multi-head self-attention with q/k/v/out projections (q, k, v fused into one GEMM): causal
/// for the text tower, full for the vision tower.
struct CLIPAttention: Sendable {
    let qkvWeight: WeightTensor  // [3D, D]
    let qkvBias: Tensor          // [3D]
    let outWeight: WeightTensor  // [D, D]
    let outBias: Tensor    // [D]
    let heads: Int
    let causal: Bool

    init(query: (WeightTensor, Tensor), key: (WeightTensor, Tensor), value: (WeightTensor, Tensor),
         outWeight: WeightTensor, outBias: Tensor, heads: Int, causal: Bool = true) {
        qkvWeight = WeightTensor.concatenated(rows: [query.0, key.0, value.0])
        qkvBias = concat([query.1, key.1, value.1], axis: 0)
        self.outWeight = outWeight
        self.outBias = outBias
        self.heads = heads
        self.causal = causal
    }

    /// x [B, L, D] → [B, L, D]; when causal, key j is hidden from query i when j > i.
    func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let hd = d / heads
        // [B, L, 3D] → [3, B, heads, L, hd]
        let qkv = linear(x, weight: qkvWeight, bias: qkvBias).reshaped([b, l, 3, heads, hd]).permuted([2, 0, 3, 1, 4])
        let parts = qkv.chunked(3, axis: 0).map { $0.reshaped([b, heads, l, hd]) }
        let attended = scaledDotProductAttention(query: parts[0], key: parts[1], value: parts[2], causal: causal)
        // [B, heads, L, hd] → [B, L, D]
        let merged = attended.permuted([0, 2, 1, 3]).reshaped([b, l, d])
        return linear(merged, weight: outWeight, bias: outBias)
    }
}

/// fc1 → activation → fc2.
struct CLIPMLP: Sendable {
    let fc1Weight: WeightTensor  // [M, D]
    let fc1Bias: Tensor          // [M]
    let fc2Weight: WeightTensor  // [D, M]
    let fc2Bias: Tensor    // [D]
    let activation: CLIPActivation

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = linear(x, weight: fc1Weight, bias: fc1Bias)
        let a: Tensor
        switch activation {
        case .quickGELU: a = h.quickGELU()
        case .gelu: a = h.gelu()
        case .geluTanh: a = h.geluTanh()
        }
        return linear(a, weight: fc2Weight, bias: fc2Bias)
    }
}

/// One pre-LN transformer block: x + attn(norm1(x)), then + mlp(norm2(·)).
struct CLIPEncoderLayer: Sendable {
    let norm1: CLIPLayerNorm
    let attention: CLIPAttention
    let norm2: CLIPLayerNorm
    let mlp: CLIPMLP

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = x + attention(norm1(x))
        return h + mlp(norm2(h))
    }

    /// Builds layer `prefix` (e.g. `encoder.layers.3.`) from transformers' key names, asking
    /// `weight` for each float32 tensor and `matrix` for each projection weight (held as the
    /// caller chooses); shared by the text and vision towers.
    static func load(
        prefix p: String, heads: Int, causal: Bool, activation: CLIPActivation, eps: Float,
        weight w: (String) throws -> Tensor, matrix: (String) throws -> WeightTensor
    ) throws -> CLIPEncoderLayer {
        let m = matrix
        return CLIPEncoderLayer(
            norm1: CLIPLayerNorm(weight: try w(p + "layer_norm1.weight"), bias: try w(p + "layer_norm1.bias"), eps: eps),
            attention: CLIPAttention(
                query: (try m(p + "self_attn.q_proj.weight"), try w(p + "self_attn.q_proj.bias")),
                key: (try m(p + "self_attn.k_proj.weight"), try w(p + "self_attn.k_proj.bias")),
                value: (try m(p + "self_attn.v_proj.weight"), try w(p + "self_attn.v_proj.bias")),
                outWeight: try m(p + "self_attn.out_proj.weight"), outBias: try w(p + "self_attn.out_proj.bias"),
                heads: heads, causal: causal),
            norm2: CLIPLayerNorm(weight: try w(p + "layer_norm2.weight"), bias: try w(p + "layer_norm2.bias"), eps: eps),
            mlp: CLIPMLP(
                fc1Weight: try m(p + "mlp.fc1.weight"), fc1Bias: try w(p + "mlp.fc1.bias"),
                fc2Weight: try m(p + "mlp.fc2.weight"), fc2Bias: try w(p + "mlp.fc2.bias"),
                activation: activation))
    }
}

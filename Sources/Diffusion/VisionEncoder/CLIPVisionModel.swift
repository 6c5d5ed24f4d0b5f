import Foundation
import Tensor

/// The vision tower's hyper-parameters (transformers `CLIPVisionConfig`; missing keys take
/// transformers' defaults, as `from_pretrained` does).
public struct CLIPVisionConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var imageSize: Int
    public var patchSize: Int
    public var numChannels: Int
    public var hiddenAct: String
    public var layerNormEps: Double

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case imageSize = "image_size"
        case patchSize = "patch_size"
        case numChannels = "num_channels"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
    }

    public init(
        hiddenSize: Int = 768, intermediateSize: Int = 3072, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12,
        imageSize: Int = 224, patchSize: Int = 32, numChannels: Int = 3, hiddenAct: String = "quick_gelu",
        layerNormEps: Double = 1e-5
    ) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.numChannels = numChannels
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPVisionConfig()
        self.init(
            hiddenSize: try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize,
            intermediateSize: try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize,
            numHiddenLayers: try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers,
            numAttentionHeads: try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads,
            imageSize: try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize,
            patchSize: try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize,
            numChannels: try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? d.numChannels,
            hiddenAct: try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct,
            layerNormEps: try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? d.layerNormEps)
    }

    /// Checks that the numbers describe a buildable model; errors name `source`.
    public func validate(source: String) throws {
        func fail(_ message: String) -> DiffusionError { DiffusionError(.invalidConfig, "\(source): \(message)") }
        for (name, value) in [("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                              ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                              ("image_size", imageSize), ("patch_size", patchSize), ("num_channels", numChannels)]
        where value <= 0 {
            throw fail("\(name) must be positive, got \(value)")
        }
        if hiddenSize % numAttentionHeads != 0 {
            throw fail("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        if imageSize % patchSize != 0 { throw fail("image_size \(imageSize) is not a multiple of patch_size \(patchSize)") }
        if CLIPActivation(name: hiddenAct) == nil { throw fail("hidden_act '\(hiddenAct)' is not supported") }
    }

    var patchCount: Int { (imageSize / patchSize) * (imageSize / patchSize) }
}

/// CLIP's vision transformer (transformers `CLIPVisionModel`): patch embedding, class token,
/// position embeddings, pre-norm, full self-attention layers; the pooled output is the class
/// token after the post-norm. Used by the Stable Diffusion safety checker.
public struct CLIPVisionModel: Sendable {
    public let config: CLIPVisionConfig
    let patchEmbedding: Tensor      // [D, C, P, P]
    let classEmbedding: Tensor      // [D]
    let positionEmbedding: Tensor   // [N + 1, D]
    let preNorm: CLIPLayerNorm
    let layers: [CLIPEncoderLayer]
    let postNorm: CLIPLayerNorm

    /// Names of every weight under `prefix` (e.g. `vision_model.`) with shapes.
    public static func expectedWeights(config: CLIPVisionConfig, prefix: String) -> [String: [Int]] {
        let d = config.hiddenSize, m = config.intermediateSize, p = config.patchSize
        var shapes: [String: [Int]] = [
            "embeddings.patch_embedding.weight": [d, config.numChannels, p, p],
            "embeddings.class_embedding": [d],
            "embeddings.position_embedding.weight": [config.patchCount + 1, d],
            "pre_layrnorm.weight": [d], "pre_layrnorm.bias": [d],
            "post_layernorm.weight": [d], "post_layernorm.bias": [d],
        ]
        for i in 0..<config.numHiddenLayers {
            let l = "encoder.layers.\(i)."
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                shapes[l + "self_attn.\(proj).weight"] = [d, d]
                shapes[l + "self_attn.\(proj).bias"] = [d]
            }
            for norm in ["layer_norm1", "layer_norm2"] {
                shapes[l + "\(norm).weight"] = [d]
                shapes[l + "\(norm).bias"] = [d]
            }
            shapes[l + "mlp.fc1.weight"] = [m, d]
            shapes[l + "mlp.fc1.bias"] = [m]
            shapes[l + "mlp.fc2.weight"] = [d, m]
            shapes[l + "mlp.fc2.bias"] = [d]
        }
        return Dictionary(uniqueKeysWithValues: shapes.map { (prefix + $0.key, $0.value) })
    }

    /// Builds the tower from `weights` whose names start with `prefix`; shapes are checked and
    /// missing or wrong-shape tensors reported by name (other names in the store are ignored:
    /// the caller owns them, e.g. the safety checker's projection and concept embeddings).
    public init(config: CLIPVisionConfig, weights: WeightStore, prefix: String, source: String) throws {
        try config.validate(source: source)
        let expected = Self.expectedWeights(config: config, prefix: prefix)
        var report = weights.check(expected: expected)
        report.unknown = []
        try report.throwIfProblems(source: source)
        func w(_ name: String) throws -> Tensor { try weights.tensor(prefix + name, shape: expected[prefix + name]!) }
        let eps = Float(config.layerNormEps)
        let activation = CLIPActivation(name: config.hiddenAct)!
        self.config = config
        patchEmbedding = try w("embeddings.patch_embedding.weight")
        classEmbedding = try w("embeddings.class_embedding")
        positionEmbedding = try w("embeddings.position_embedding.weight")
        preNorm = CLIPLayerNorm(weight: try w("pre_layrnorm.weight"), bias: try w("pre_layrnorm.bias"), eps: eps)
        postNorm = CLIPLayerNorm(weight: try w("post_layernorm.weight"), bias: try w("post_layernorm.bias"), eps: eps)
        layers = try (0..<config.numHiddenLayers).map { i in
            try CLIPEncoderLayer.load(
                prefix: "encoder.layers.\(i).", heads: config.numAttentionHeads, causal: false, activation: activation, eps: eps,
                weight: w, matrix: { .float32(try w($0)) })
        }
    }

    /// Pixel values [B, C, S, S] (S = image_size, already normalised) → pooled output [B, D].
    public func pooledOutput(_ pixelValues: Tensor) throws -> Tensor {
        let s = config.imageSize
        guard pixelValues.rank == 4, pixelValues.shape[1] == config.numChannels,
              pixelValues.shape[2] == s, pixelValues.shape[3] == s else {
            throw DiffusionError(.invalidInput,
                "vision model expects [B, \(config.numChannels), \(s), \(s)] pixel values, got \(pixelValues.shape)")
        }
        let b = pixelValues.shape[0], d = config.hiddenSize, n = config.patchCount
        // [B, D, S/P, S/P] → [B, N, D]
        let patches = conv2d(pixelValues, weight: patchEmbedding, bias: nil,
                             options: Conv2DOptions(strideH: config.patchSize, strideW: config.patchSize))
            .reshaped([b, d, n]).permuted([0, 2, 1])
        let classTokens = classEmbedding.reshaped([1, 1, d]).expanded(to: [b, 1, d])
        var x = concat([classTokens, patches], axis: 1) + positionEmbedding.reshaped([1, n + 1, d])
        x = preNorm(x)
        for layer in layers { x = layer(x) }
        // The class token: [B, D]
        let first = x.narrowed(axis: 1, start: 0, length: 1).reshaped([b, d])
        return postNorm(first)
    }
}

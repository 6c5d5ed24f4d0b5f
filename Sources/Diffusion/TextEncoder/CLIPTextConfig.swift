import Foundation

/// A CLIP text encoder's `config.json` (transformers `CLIPTextConfig` field names).
///
/// Missing fields take transformers' defaults; `sd1` is Stable Diffusion 1.x's text encoder
/// (openai/clip-vit-large-patch14).
public struct CLIPTextConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    /// `quick_gelu` (SD 1.x), `gelu` (exact, erf), or `gelu_new` / `gelu_pytorch_tanh`.
    public var hiddenAct: String
    public var layerNormEps: Double
    /// Pooling rule, as transformers: 2 (legacy configs, SD 1.x) pools at the argmax of the ids,
    /// any other value at the first occurrence of this id.
    public var eosTokenId: Int

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case eosTokenId = "eos_token_id"
    }

    public init(vocabSize: Int = 49408, hiddenSize: Int = 512, intermediateSize: Int = 2048,
                numHiddenLayers: Int = 12, numAttentionHeads: Int = 8, maxPositionEmbeddings: Int = 77,
                hiddenAct: String = "quick_gelu", layerNormEps: Double = 1e-5, eosTokenId: Int = 49407) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
        self.eosTokenId = eosTokenId
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfig()
        self.init(
            vocabSize: try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize,
            hiddenSize: try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize,
            intermediateSize: try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize,
            numHiddenLayers: try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers,
            numAttentionHeads: try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads,
            maxPositionEmbeddings: try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings,
            hiddenAct: try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct,
            layerNormEps: try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? d.layerNormEps,
            eosTokenId: try c.decodeIfPresent(Int.self, forKey: .eosTokenId) ?? d.eosTokenId)
    }

    /// Stable Diffusion 1.x's text encoder (CLIP ViT-L/14 text tower).
    public static let sd1 = CLIPTextConfig(
        vocabSize: 49408, hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12,
        numAttentionHeads: 12, maxPositionEmbeddings: 77, hiddenAct: "quick_gelu",
        layerNormEps: 1e-5, eosTokenId: 2)

    /// Reads `config.json`.
    public static func load(_ url: URL) throws -> CLIPTextConfig {
        let config: CLIPTextConfig
        do {
            config = try JSONDecoder().decode(CLIPTextConfig.self, from: Data(contentsOf: url))
        } catch {
            throw DiffusionError(.invalidConfig, "\(url.path): not a CLIP text config (\(error))")
        }
        try config.validate(source: url.path)
        return config
    }

    /// Checks sizes are positive and consistent and the activation is supported.
    public func validate(source: String = "CLIPTextConfig") throws {
        func fail(_ what: String) -> DiffusionError { DiffusionError(.invalidConfig, "\(source): \(what)") }
        for (name, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize),
                              ("intermediate_size", intermediateSize), ("num_attention_heads", numAttentionHeads),
                              ("max_position_embeddings", maxPositionEmbeddings)] where value <= 0 {
            throw fail("\(name) must be positive, got \(value)")
        }
        guard numHiddenLayers >= 0 else { throw fail("num_hidden_layers must not be negative, got \(numHiddenLayers)") }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw fail("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        guard CLIPActivation(name: hiddenAct) != nil else { throw fail("unsupported hidden_act '\(hiddenAct)'") }
        guard layerNormEps > 0 else { throw fail("layer_norm_eps must be positive, got \(layerNormEps)") }
    }
}

/// The MLP activations CLIP text configs use.
enum CLIPActivation: Sendable {
    case quickGELU, gelu, geluTanh

    init?(name: String) {
        switch name {
        case "quick_gelu": self = .quickGELU
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        default: return nil
        }
    }
}

import Foundation
import Tensor

/// CLIP's text transformer (transformers `CLIPTextModel`), as Stable Diffusion uses it.
///
/// token + position embeddings → `numHiddenLayers` pre-LN blocks (causal self-attention, MLP)
/// → final layer norm = `lastHiddenState` [B, L, D]; `pooledOutput` [B, D] is the final state at
/// each sequence's end token (see `CLIPTextConfig.eosTokenId` for the rule).
/// Weights use transformers' key names, with or without the `text_model.` prefix.
public struct CLIPTextModel: Sendable {
    public let config: CLIPTextConfig
    let tokenEmbedding: Tensor       // [V, D]
    let positionEmbedding: Tensor    // [P, D]
    let layers: [CLIPEncoderLayer]
    let finalNorm: CLIPLayerNorm

    /// Prefix of every weight name in published checkpoints.
    public static let keyPrefix = "text_model."

    /// Loads a diffusers `text_encoder/` folder: `config.json` plus safetensors weights
    /// (single file or sharded with an index).
    public init(folder: URL, precision: WeightPrecision = .file) throws {
        let config = try CLIPTextConfig.load(folder.appendingPathComponent("config.json"))
        try self.init(config: config, weights: WeightStore.load(folder: folder), source: folder.path, precision: precision)
    }

    /// Builds the model from `weights`, which must hold exactly the tensors `config` needs
    /// (the `text_model.embeddings.position_ids` buffer of older checkpoints is ignored).
    ///
    /// Unknown, missing and wrong-shape tensors are reported together, each by name. The
    /// attention and MLP projection weights are held in `precision`; the rest is float32.
    public init(
        config: CLIPTextConfig, weights: WeightStore, source: String = "text encoder",
        precision: WeightPrecision = .file
    ) throws {
        try config.validate(source: source)
        let expected = Self.expectedWeights(config: config)
        let prefixed = weights.names.contains { $0.hasPrefix(Self.keyPrefix) }
        let store = prefixed ? weights : try weights.renamed { Self.keyPrefix + $0 }
        var report = store.check(expected: expected)
        report.unknown.removeAll { $0 == Self.keyPrefix + "embeddings.position_ids" }
        try report.throwIfProblems(source: source)

        func w(_ name: String) throws -> Tensor { try store.tensor(Self.keyPrefix + name, shape: expected[Self.keyPrefix + name]!) }
        func m(_ name: String) throws -> WeightTensor { try store.weight(Self.keyPrefix + name, precision: precision) }
        let activation = CLIPActivation(name: config.hiddenAct)!
        let eps = Float(config.layerNormEps)
        self.config = config
        tokenEmbedding = try w("embeddings.token_embedding.weight")
        positionEmbedding = try w("embeddings.position_embedding.weight")
        layers = try (0..<config.numHiddenLayers).map { i in
            try CLIPEncoderLayer.load(
                prefix: "encoder.layers.\(i).", heads: config.numAttentionHeads, causal: true, activation: activation, eps: eps, weight: w, matrix: m)
        }
        finalNorm = CLIPLayerNorm(weight: try w("final_layer_norm.weight"), bias: try w("final_layer_norm.bias"), eps: eps)
    }

    /// Every weight the model needs, with its shape, under the `text_model.` names.
    public static func expectedWeights(config: CLIPTextConfig) -> [String: [Int]] {
        let d = config.hiddenSize, m = config.intermediateSize
        var shapes: [String: [Int]] = [
            "embeddings.token_embedding.weight": [config.vocabSize, d],
            "embeddings.position_embedding.weight": [config.maxPositionEmbeddings, d],
            "final_layer_norm.weight": [d], "final_layer_norm.bias": [d],
        ]
        for i in 0..<config.numHiddenLayers {
            let p = "encoder.layers.\(i)."
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                shapes[p + "self_attn.\(proj).weight"] = [d, d]
                shapes[p + "self_attn.\(proj).bias"] = [d]
            }
            for norm in ["layer_norm1", "layer_norm2"] {
                shapes[p + "\(norm).weight"] = [d]
                shapes[p + "\(norm).bias"] = [d]
            }
            shapes[p + "mlp.fc1.weight"] = [m, d]
            shapes[p + "mlp.fc1.bias"] = [m]
            shapes[p + "mlp.fc2.weight"] = [d, m]
            shapes[p + "mlp.fc2.bias"] = [d]
        }
        return Dictionary(uniqueKeysWithValues: shapes.map { (keyPrefix + $0.key, $0.value) })
    }

    /// Encodes a batch of equally long id sequences (B ≥ 1, 1 ≤ L ≤ max positions).
    ///
    /// Throws `.invalidInput` for ragged batches, over-long sequences or ids outside the vocabulary.
    public func encode(_ inputIDs: [[Int]]) throws -> CLIPTextOutput {
        guard let length = inputIDs.first?.count, length > 0 else {
            throw DiffusionError(.invalidInput, "text encoder: empty batch or empty sequence")
        }
        guard length <= config.maxPositionEmbeddings else {
            throw DiffusionError(.invalidInput,
                "text encoder: sequence length \(length) exceeds max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        for (b, ids) in inputIDs.enumerated() {
            guard ids.count == length else {
                throw DiffusionError(.invalidInput, "text encoder: sequence \(b) has \(ids.count) ids, sequence 0 has \(length)")
            }
            if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= config.vocabSize }) {
                throw DiffusionError(.invalidInput,
                    "text encoder: sequence \(b) position \(bad) has id \(ids[bad]) outside the vocabulary (\(config.vocabSize))")
            }
        }
        let batch = inputIDs.count, d = config.hiddenSize
        // [B, L, D] = token embeddings + position embeddings
        var x = tokenEmbedding.indexSelect(inputIDs.flatMap { $0 }).reshaped([batch, length, d])
        x = x + positionEmbedding.narrowed(axis: 0, start: 0, length: length)
        for layer in layers { x = layer(x) }
        let last = finalNorm(x)

        let pooledRows = inputIDs.enumerated().map { b, ids in b * length + poolingPosition(ids) }
        let pooled = last.reshaped([batch * length, d]).indexSelect(pooledRows)
        return CLIPTextOutput(lastHiddenState: last, pooledOutput: pooled)
    }

    /// Where transformers pools: argmax of the ids for legacy configs (eos_token_id 2, SD 1.x),
    /// else the first end token (or position 0 when there is none, as argmax of all-false).
    func poolingPosition(_ ids: [Int]) -> Int {
        if config.eosTokenId == 2 {
            var best = 0
            for i in ids.indices where ids[i] > ids[best] { best = i }
            return best
        }
        return ids.firstIndex(of: config.eosTokenId) ?? 0
    }
}

/// The text encoder's outputs for a batch.
public struct CLIPTextOutput: Sendable {
    /// [B, L, D]: what the UNet's cross-attention consumes.
    public var lastHiddenState: Tensor
    /// [B, D]: the final state at each sequence's end token.
    public var pooledOutput: Tensor
}

extension CLIPTextModel {
    /// Bytes the model's weights occupy as held (16-bit matrices count 2 bytes an element):
    /// what benchmarks compare peak RSS with.
    public var storedWeightBytes: Int {
        func norm(_ n: CLIPLayerNorm) -> Int { 4 * (n.weight.count + n.bias.count) }
        var bytes = 4 * (tokenEmbedding.count + positionEmbedding.count) + norm(finalNorm)
        for layer in layers {
            let a = layer.attention, m = layer.mlp
            bytes += norm(layer.norm1) + norm(layer.norm2)
            bytes += a.qkvWeight.storedBytes + a.outWeight.storedBytes + 4 * (a.qkvBias.count + a.outBias.count)
            bytes += m.fc1Weight.storedBytes + m.fc2Weight.storedBytes + 4 * (m.fc1Bias.count + m.fc2Bias.count)
        }
        return bytes
    }
}

import Foundation
import Testing
import Tensor
@testable import Diffusion
import TestSupport

/// Fixtures written by ops/reference/make_text_encoder_fixtures.py (transformers 5.23
/// CLIPTextModel, float32).
private let encoderFixtures = TestPaths.fixture("text-encoder")

private struct Reference {
    var inputIDs: [[Int]]
    var lastHiddenState: Tensor
    var pooledOutput: Tensor

    init(_ name: String) throws {
        struct Meta: Decodable {
            var input_ids: [[Int]]
            var last_hidden_state_shape: [Int]
            var pooler_output_shape: [Int]
        }
        let folder = encoderFixtures.appendingPathComponent(name)
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: folder.appendingPathComponent("reference.json")))
        let outputs = try SafeTensorsFile(url: folder.appendingPathComponent("reference.safetensors"))
        inputIDs = meta.input_ids
        lastHiddenState = try outputs.tensor("last_hidden_state")
        pooledOutput = try outputs.tensor("pooler_output")
        #expect(lastHiddenState.shape == meta.last_hidden_state_shape)
        #expect(pooledOutput.shape == meta.pooler_output_shape)
    }
}

/// Max |a - b| divided by max |b| (the output scale).
private func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    let x = a.scalars, y = b.scalars
    var worst: Float = 0, scale: Float = 0
    for i in x.indices {
        worst = max(worst, abs(x[i] - y[i]))
        scale = max(scale, abs(y[i]))
    }
    return worst / max(scale, 1e-12)
}

/// Weights expanded from a synthetic manifest (`weights.json`), bit-identical to the tooling's.
private func syntheticWeights(_ folder: URL) throws -> WeightStore {
    struct Manifest: Decodable {
        struct Entry: Decodable { var name: String; var shape: [Int]; var stream: UInt64; var mean: Double; var halfwidth: Double }
        var seed: UInt64
        var tensors: [Entry]
    }
    let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: folder.appendingPathComponent("weights.json")))
    var tensors: [String: Tensor] = [:]
    for entry in manifest.tensors {
        tensors[entry.name] = SyntheticWeights.tensor(
            seed: manifest.seed, stream: entry.stream, shape: entry.shape, mean: entry.mean, halfWidth: entry.halfwidth)
    }
    return WeightStore(tensors: tensors)
}

struct TextEncoderTests {
    @Test("parity with transformers on folder checkpoints (F32 with text_model. prefix; sharded F16)",
          arguments: ["tiny-gelu", "small-sharded-f16"])
    func folderParity(_ name: String) throws {
        let reference = try Reference(name)
        let model = try CLIPTextModel(folder: encoderFixtures.appendingPathComponent("\(name)/text_encoder"))
        let output = try model.encode(reference.inputIDs)
        let lastError = relativeError(output.lastHiddenState, reference.lastHiddenState)
        let pooledError = relativeError(output.pooledOutput, reference.pooledOutput)
        #expect(lastError <= 1e-4, "last_hidden_state relative error \(lastError)")
        #expect(pooledError <= 1e-4, "pooler_output relative error \(pooledError)")
    }

    @Test("parity with transformers on the SD 1.x text config (2 layers, synthetic weights)")
    func sd1Parity() throws {
        let folder = encoderFixtures.appendingPathComponent("sd1-2layer")
        let reference = try Reference("sd1-2layer")
        let config = try CLIPTextConfig.load(folder.appendingPathComponent("config.json"))
        #expect(config == CLIPTextConfig(
            vocabSize: 49408, hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 2, numAttentionHeads: 12,
            maxPositionEmbeddings: 77, hiddenAct: "quick_gelu", layerNormEps: 1e-5, eosTokenId: 2))
        let model = try CLIPTextModel(config: config, weights: try syntheticWeights(folder))
        let output = try model.encode(reference.inputIDs)
        #expect(output.lastHiddenState.shape == [2, 77, 768])
        let lastError = relativeError(output.lastHiddenState, reference.lastHiddenState)
        let pooledError = relativeError(output.pooledOutput, reference.pooledOutput)
        #expect(lastError <= 1e-4, "last_hidden_state relative error \(lastError)")
        #expect(pooledError <= 1e-4, "pooler_output relative error \(pooledError)")
    }

    @Test("synthetic weights equal the tooling's generator (values printed by common.synthetic_tensor)")
    func syntheticGenerator() {
        // cd ops/reference && python -c "from common import synthetic_tensor as s; print(list(s(1234, 7, [4], 0.0, 1.0).view('uint32')))"
        let values = SyntheticWeights.tensor(seed: 1234, stream: 7, shape: [4], mean: 0, halfWidth: 1).scalars
        #expect(values.map(\.bitPattern) == [3_184_422_400, 1_056_096_080, 1_063_127_188, 1_035_892_384])
    }

    @Test("missing, unknown and wrong-shape weights are reported by name")
    func weightReport() throws {
        let config = CLIPTextConfig(vocabSize: 10, hiddenSize: 4, intermediateSize: 8, numHiddenLayers: 1,
                                    numAttentionHeads: 2, maxPositionEmbeddings: 6)
        var tensors: [String: Tensor] = [:]
        for (name, shape) in CLIPTextModel.expectedWeights(config: config) { tensors[name] = Tensor.zeros(shape) }
        _ = try CLIPTextModel(config: config, weights: WeightStore(tensors: tensors))

        tensors["text_model.encoder.layers.0.mlp.fc1.weight"] = Tensor.zeros([8, 5])
        tensors["text_model.encoder.layers.0.self_attn.q_proj.bias"] = nil
        tensors["text_model.encoder.layers.1.mlp.fc1.weight"] = Tensor.zeros([1])
        let error = #expect(throws: DiffusionError.self) {
            try CLIPTextModel(config: config, weights: WeightStore(tensors: tensors), source: "ckpt")
        }
        let message = error?.message ?? ""
        #expect(message.contains("missing 1: text_model.encoder.layers.0.self_attn.q_proj.bias"))
        #expect(message.contains("wrong shape 1: text_model.encoder.layers.0.mlp.fc1.weight [8, 5] (expected [8, 4])"))
        #expect(message.contains("unknown 1: text_model.encoder.layers.1.mlp.fc1.weight"))
    }

    @Test("bad inputs throw instead of crashing")
    func badInputs() throws {
        let config = CLIPTextConfig(vocabSize: 10, hiddenSize: 4, intermediateSize: 8, numHiddenLayers: 1,
                                    numAttentionHeads: 2, maxPositionEmbeddings: 6)
        var tensors: [String: Tensor] = [:]
        for (name, shape) in CLIPTextModel.expectedWeights(config: config) { tensors[name] = Tensor.zeros(shape) }
        let model = try CLIPTextModel(config: config, weights: WeightStore(tensors: tensors))
        #expect(throws: DiffusionError.self) { try model.encode([]) }
        #expect(throws: DiffusionError.self) { try model.encode([[1, 2, 3, 4, 5, 6, 7]]) }
        #expect(throws: DiffusionError.self) { try model.encode([[1, 2], [1]]) }
        #expect(throws: DiffusionError.self) { try model.encode([[1, 10]]) }
        #expect(throws: DiffusionError.self) { try model.encode([[-1]]) }
        #expect(try model.encode([[1, 2, 3]]).lastHiddenState.shape == [1, 3, 4])
        var bad = config
        bad.numAttentionHeads = 3
        #expect(throws: DiffusionError.self) { try bad.validate() }
        bad = config
        bad.hiddenAct = "swish"
        #expect(throws: DiffusionError.self) { try bad.validate() }
    }
}

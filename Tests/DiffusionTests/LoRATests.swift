import Foundation
import Tensor
import Testing
@testable import Diffusion
import TestSupport

/// LoRA merged at load vs diffusers 0.42.1 `load_lora_weights` + `fuse_lora(lora_scale: 0.7)` on
/// the tiny model: `Tests/Fixtures/lora/`, written by `ops/reference/make_lora_fixtures.py` (one
/// PEFT-made LoRA in the diffusers/PEFT, older diffusers and kohya key formats). Tolerance as the
/// UNet and text encoder tests: max |ours − diffusers| ≤ 1e-4 × max(output scale, 1).
@Suite("LoRA vs diffusers")
struct LoRATests {
    static let directory = TestPaths.fixture("lora")
    static let tinySD = TestPaths.fixture("tiny-sd")
    static let files = ["peft.safetensors", "diffusers-old.safetensors", "kohya.safetensors"]

    static func outputs() throws -> WeightStore {
        try WeightStore(files: [directory.appendingPathComponent("outputs.safetensors")])
    }

    static func relativeError(_ got: Tensor, _ expected: Tensor) -> Float {
        maxAbsDifference(got, expected) / max(maxAbs(expected), 1)
    }

    @Test("every format gives diffusers' fused UNet and text encoder", arguments: files)
    func matchesDiffusers(file: String) throws {
        let lora = try LoRA.load(file: Self.directory.appendingPathComponent(file))
        #expect(lora.layers.filter { $0.component == .unet }.count == 48)
        #expect(lora.layers.filter { $0.component == .textEncoder }.count == 6)
        #expect(Set(lora.layers.map(\.down.rank)) == [2, 4], "linear and convolution layers")
        let pipeline = try StableDiffusionPipeline.load(folder: Self.tinySD, loras: [ScaledLoRA(lora, scale: 0.7)])
        let io = try Self.outputs()

        let unet = try #require(pipeline.noisePredictor as? UNet2DConditionModel)
        let noise = try unet(
            io.tensor("sample"), timesteps: io.tensor("timesteps").scalars,
            encoderHiddenStates: io.tensor("encoder_hidden_states"))
        let noiseError = Self.relativeError(noise, try io.tensor("noise"))
        #expect(noiseError <= 1e-4, "UNet relative error \(noiseError)")

        let encoder = try #require(pipeline.promptEncoder as? CLIPPromptEncoder)
        let ids = try io.tensor("input_ids").scalars.map { Int($0) }
        let hidden = try encoder.textModel.encode([ids]).lastHiddenState
        let hiddenError = Self.relativeError(hidden, try io.tensor("hidden_states"))
        #expect(hiddenError <= 1e-4, "text encoder relative error \(hiddenError)")
    }

    @Test("the base model differs from the reference, and scale 0 is the base model")
    func scaleMatters() throws {
        let io = try Self.outputs()
        let base = try UNet2DConditionModel.load(directory: Self.tinySD.appendingPathComponent("unet"))
        let lora = try LoRA.load(file: Self.directory.appendingPathComponent("kohya.safetensors"))
        let unmerged = try StableDiffusionPipeline.load(folder: Self.tinySD, loras: [ScaledLoRA(lora, scale: 0)])
        let zero = try #require(unmerged.noisePredictor as? UNet2DConditionModel)
        let arguments = (try io.tensor("sample"), try io.tensor("timesteps").scalars, try io.tensor("encoder_hidden_states"))
        let plain = try base(arguments.0, timesteps: arguments.1, encoderHiddenStates: arguments.2)
        #expect(Self.relativeError(plain, try io.tensor("noise")) > 1e-2)
        let same = try zero(arguments.0, timesteps: arguments.1, encoderHiddenStates: arguments.2)
        #expect(maxAbsDifference(same, plain) == 0)
    }

    @Test("alpha comes from alpha tensors or diffusers' adapter metadata")
    func alphas() throws {
        for file in Self.files {
            let lora = try LoRA.load(file: Self.directory.appendingPathComponent(file))
            for layer in lora.layers {
                #expect(layer.alpha == (layer.component == .unet ? 6 : 3), "\(file) \(layer.key)")
            }
        }
        // Without either, alpha is the rank (scaling 1), as diffusers assumes.
        let plain = try LoRA(weights: WeightStore(tensors: [
            "unet.conv_in.lora_A.weight": Tensor(shape: [2, 4, 3, 3], repeating: 0.1),
            "unet.conv_in.lora_B.weight": Tensor(shape: [16, 2, 1, 1], repeating: 0.1),
        ]), source: "test")
        #expect(plain.layers.map(\.alpha) == [2])
    }

    // MARK: errors name the key

    static let toQ = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"

    static func expectError(_ key: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an error naming \(key)")
        } catch let error as DiffusionError {
            #expect(error.message.contains(key), "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    static func unetWeights() throws -> WeightStore {
        try WeightStore.load(folder: tinySD.appendingPathComponent("unet"))
    }

    @Test("a layer that matches no weight is an error naming it")
    func unknownModule() throws {
        let key = "lora_unet_down_blocks_9_attentions_0_proj_in"
        let lora = try LoRA(weights: WeightStore(tensors: [
            key + ".lora_down.weight": Tensor(shape: [2, 16], repeating: 0.1),
            key + ".lora_up.weight": Tensor(shape: [16, 2], repeating: 0.1),
        ]), source: "test")
        let weights = try Self.unetWeights()
        Self.expectError(key) { _ = try lora.overlay(for: .unet, on: weights, scale: 1) }
    }

    @Test("halves that do not fit the weight are an error naming the layer")
    func wrongShape() throws {
        let key = "unet." + Self.toQ
        let lora = try LoRA(weights: WeightStore(tensors: [
            key + ".lora_A.weight": Tensor(shape: [4, 17], repeating: 0.1),
            key + ".lora_B.weight": Tensor(shape: [16, 4], repeating: 0.1),
        ]), source: "test")
        let weights = try Self.unetWeights()
        Self.expectError(key) { _ = try lora.overlay(for: .unet, on: weights, scale: 1) }
    }

    @Test("up and down of different rank, a missing half, or a foreign key are errors naming the key")
    func malformedFiles() throws {
        let key = "unet." + Self.toQ
        Self.expectError(key) {
            _ = try LoRA(weights: WeightStore(tensors: [
                key + ".lora_A.weight": Tensor(shape: [4, 16], repeating: 0.1),
                key + ".lora_B.weight": Tensor(shape: [16, 3], repeating: 0.1),
            ]), source: "test")
        }
        Self.expectError(key) {
            _ = try LoRA(weights: WeightStore(tensors: [key + ".lora_A.weight": Tensor(shape: [4, 16], repeating: 0.1)]), source: "test")
        }
        Self.expectError(key + ".lora_magnitude_vector") {
            _ = try LoRA(weights: WeightStore(tensors: [key + ".lora_magnitude_vector": Tensor(shape: [16], repeating: 1)]), source: "test")
        }
        Self.expectError("vae.decoder.conv_in.lora_A.weight") {
            _ = try LoRA(weights: WeightStore(tensors: ["vae.decoder.conv_in.lora_A.weight": Tensor(shape: [2, 4], repeating: 1)]), source: "test")
        }
    }

    @Test("two layers adapting one weight are an error")
    func duplicateTarget() throws {
        let kohya = "lora_unet_" + Self.toQ.replacingOccurrences(of: ".", with: "_")
        let lora = try LoRA(weights: WeightStore(tensors: [
            "unet." + Self.toQ + ".lora_A.weight": Tensor(shape: [2, 16], repeating: 0.1),
            "unet." + Self.toQ + ".lora_B.weight": Tensor(shape: [16, 2], repeating: 0.1),
            kohya + ".lora_down.weight": Tensor(shape: [2, 16], repeating: 0.1),
            kohya + ".lora_up.weight": Tensor(shape: [16, 2], repeating: 0.1),
        ]), source: "test")
        let weights = try Self.unetWeights()
        Self.expectError(kohya) { _ = try lora.overlay(for: .unet, on: weights, scale: 1) }
    }

    @Test("unsupported adapter settings in the metadata are refused")
    func unsupportedMetadata() throws {
        let tensors = WeightStore(tensors: [
            "unet." + Self.toQ + ".lora_A.weight": Tensor(shape: [2, 16], repeating: 0.1),
            "unet." + Self.toQ + ".lora_B.weight": Tensor(shape: [16, 2], repeating: 0.1),
        ])
        #expect(throws: DiffusionError.self) {
            try LoRA(weights: tensors, metadata: ["lora_adapter_metadata": #"{"unet.use_dora": true}"#], source: "test")
        }
        #expect(throws: DiffusionError.self) {
            try LoRA(weights: tensors, metadata: ["lora_adapter_metadata": #"{"unet.alpha_pattern": {"to_q": 3}}"#], source: "test")
        }
    }
}

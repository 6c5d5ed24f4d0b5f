import Foundation
import Testing
import Tensor
@testable import Diffusion
import TestSupport

/// Parity with diffusers 0.42.1 on the committed random-init UNets
/// (ops/reference/make_unet_vae_fixtures.py). Tolerance: max abs error ≤ 1e-4 × max |reference|.
@Suite struct UNetTests {
    static let tolerance: Float = 1e-4

    @Test(arguments: ["sd15-small", "linear-2level"])
    func noisePredictionMatchesDiffusers(name: String) throws {
        let unet = try UNet2DConditionModel.load(directory: ModelFixtures.folder("unet", name))
        let io = try ModelFixtures.io("unet", name)
        let sample = try io.tensor("sample")
        let timesteps = try io.tensor("timesteps").scalars
        let context = try io.tensor("encoder_hidden_states")
        #expect(timesteps.count == 2 && timesteps[0] != timesteps[1])

        let perItem = try unet(sample, timesteps: timesteps, encoderHiddenStates: context)
        let expected = try io.tensor("noise_pred")
        #expect(perItem.shape == expected.shape)
        let error = maxAbsDifference(perItem, expected)
        #expect(error <= Self.tolerance * maxAbs(expected), "max abs error \(error), scale \(maxAbs(expected))")

        let shared = try unet(sample, timestep: 500, encoderHiddenStates: context)
        let expectedShared = try io.tensor("noise_pred_t500")
        let sharedError = maxAbsDifference(shared, expectedShared)
        #expect(sharedError <= Self.tolerance * maxAbs(expectedShared), "max abs error \(sharedError)")
    }

    @Test func configReadsDiffusersFields() throws {
        let config = try UNet2DConditionConfig.load(
            from: ModelFixtures.folder("unet", "linear-2level").appendingPathComponent("config.json"))
        #expect(config.blockOutChannels == [32, 48])
        #expect(config.attentionHeadDim == .perBlock([2, 4]))
        #expect(config.useLinearProjection)
        #expect(!config.flipSinToCos)
        #expect(config.freqShift == 1)
        #expect(config.crossAttentionDim == 24)
        #expect(try config.resolve().heads == [2, 4])
    }

    @Test func loadReportsMissingWrongShapeAndUnknownByName() throws {
        let folder = ModelFixtures.folder("unet", "linear-2level")
        let config = try UNet2DConditionConfig.load(from: folder.appendingPathComponent("config.json"))
        let store = try WeightStore.load(folder: folder)
        var tensors: [String: Tensor] = [:]
        for name in store.names { tensors[name] = try store.tensor(name) }
        tensors["conv_in.bias"] = nil
        tensors["conv_out.weight"] = Tensor.zeros([4, 32, 3, 1])
        tensors["down_blocks.9.extra.weight"] = Tensor.zeros([1])
        let error = #expect(throws: DiffusionError.self) {
            try UNet2DConditionModel(config: config, parameters: tensors, origin: "edited")
        }
        let message = error?.message ?? ""
        #expect(error?.code == .missingTensor)
        #expect(message.contains("missing 1: conv_in.bias"))
        #expect(message.contains("wrong shape 1: conv_out.weight is [4, 32, 3, 1], expected [4, 32, 3, 3]"))
        #expect(message.contains("unknown 1: down_blocks.9.extra.weight"))
    }

    @Test func unsupportedConfigIsRefusedByFieldName() throws {
        var config = UNet2DConditionConfig.stableDiffusion15
        config.classEmbedType = "timestep"
        let error = #expect(throws: DiffusionError.self) { try config.validate() }
        #expect(error?.message.contains("class_embed_type") == true)

        var heads = UNet2DConditionConfig.stableDiffusion15
        heads.attentionHeadDim = .perBlock([8, 8])
        #expect(throws: DiffusionError.self) { try heads.validate() }
    }

    @Test func badInputsThrowInsteadOfCrashing() throws {
        let unet = try UNet2DConditionModel.load(directory: ModelFixtures.folder("unet", "linear-2level"))
        let context = Tensor.zeros([2, 77, 24])
        #expect(throws: DiffusionError.self) {
            try unet(Tensor.zeros([2, 3, 8, 8]), timestep: 1, encoderHiddenStates: context)
        }
        #expect(throws: DiffusionError.self) {
            try unet(Tensor.zeros([2, 4, 8, 8]), timestep: 1, encoderHiddenStates: Tensor.zeros([2, 77, 32]))
        }
        #expect(throws: DiffusionError.self) {
            try unet(Tensor.zeros([2, 4, 8, 8]), timesteps: [1, 2, 3], encoderHiddenStates: context)
        }
    }

    @Test func attn1OverlayReplacesOnlyThoseTensorsAndSharesTheRest() throws {
        let folder = ModelFixtures.folder("unet", "sd15-small")
        let base = try UNet2DConditionModel.load(directory: folder)
        let attn1Names = base.parameters.keys.filter(UNet2DConditionModel.isSelfAttentionParameter)
        // 7 transformers (3 down levels × 2 + mid) + 9 in the up path, 4 attn1 tensors + 1 bias each
        #expect(attn1Names.count == 16 * 5)
        let name = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
        let replacement = base.parameters[name]!.float32() * 0.5
        let edited = try base.replacingParameters(
            WeightStore(tensors: [name: replacement]), allowed: UNet2DConditionModel.isSelfAttentionParameter)
        #expect(edited.parameters[name]!.float32().scalars == replacement.scalars)
        #expect(edited.downBlocks[0].attentions[0].transformerBlocks[0].attn1.toQ.weight.float32().scalars == replacement.scalars)
        #expect(edited.parameters["conv_in.weight"]!.float32().scalars == base.parameters["conv_in.weight"]!.float32().scalars)

        let io = try ModelFixtures.io("unet", "sd15-small")
        let sample = try io.tensor("sample"), context = try io.tensor("encoder_hidden_states")
        let a = try base(sample, timestep: 10, encoderHiddenStates: context)
        let b = try edited(sample, timestep: 10, encoderHiddenStates: context)
        #expect(maxAbsDifference(a, b) > 1e-4)

        // Anything but attn1 is refused, by name; unknown and wrong-shape names are reported.
        let refused = #expect(throws: DiffusionError.self) {
            try base.replacingParameters(
                WeightStore(tensors: ["conv_in.bias": base.parameters["conv_in.bias"]!.float32()]),
                allowed: UNet2DConditionModel.isSelfAttentionParameter)
        }
        #expect(refused?.message.contains("conv_in.bias") == true)
        let wrong = #expect(throws: DiffusionError.self) {
            try base.replacingParameters(WeightStore(tensors: [name: Tensor.zeros([2, 2]), "nope.attn1.x": Tensor.zeros([1])]))
        }
        #expect(wrong?.message.contains("\(name) is [2, 2]") == true)
        #expect(wrong?.message.contains("unknown 1: nope.attn1.x") == true)
    }
}

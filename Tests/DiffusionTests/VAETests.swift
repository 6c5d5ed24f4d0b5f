import Foundation
import Testing
import Tensor
@testable import Diffusion
import TestSupport

/// Parity with diffusers 0.42.1 on the committed random-init VAEs
/// (ops/reference/make_unet_vae_fixtures.py). Tolerance: max abs error ≤ 1e-4 × max |reference|.
@Suite struct VAETests {
    static let tolerance: Float = 1e-4

    @Test(arguments: ["sd-small", "two-level"])
    func decodeMatchesDiffusers(name: String) throws {
        let vae = try AutoencoderKL.load(directory: ModelFixtures.folder("vae", name))
        let io = try ModelFixtures.io("vae", name)
        let decoded = try vae.decode(try io.tensor("latents"))
        let expected = try io.tensor("decoded")
        #expect(decoded.shape == expected.shape)
        let error = maxAbsDifference(decoded, expected)
        #expect(error <= Self.tolerance * maxAbs(expected), "max abs error \(error), scale \(maxAbs(expected))")
    }

    @Test(arguments: ["sd-small", "two-level"])
    func encodeMeanMatchesDiffusers(name: String) throws {
        let vae = try AutoencoderKL.load(directory: ModelFixtures.folder("vae", name))
        let io = try ModelFixtures.io("vae", name)
        let mean = try vae.encode(try io.tensor("image")).mean
        let expected = try io.tensor("encoded_mean")
        #expect(mean.shape == expected.shape)
        let error = maxAbsDifference(mean, expected)
        #expect(error <= Self.tolerance * maxAbs(expected), "max abs error \(error), scale \(maxAbs(expected))")
    }

    /// With every layer's input made in row bands of two output rows, decode and encode agree
    /// with the whole-tensor path and still match diffusers.
    @Test(arguments: ["sd-small", "two-level"])
    func rowBandsMatchTheWholePathAndDiffusers(name: String) throws {
        let vae = try AutoencoderKL.load(directory: ModelFixtures.folder("vae", name))
        let io = try ModelFixtures.io("vae", name)
        let latents = try io.tensor("latents"), image = try io.tensor("image")
        let (decoded, mean) = try RowBands.$thresholdFloats.withValue(0) {
            try RowBands.$bandFloats.withValue(1) { (try vae.decode(latents), try vae.encode(image).mean) }
        }
        let wholeDecoded = try vae.decode(latents), wholeMean = try vae.encode(image).mean
        #expect(maxAbsDifference(decoded, wholeDecoded) <= 1e-5 * maxAbs(wholeDecoded))
        #expect(maxAbsDifference(mean, wholeMean) <= 1e-5 * maxAbs(wholeMean))
        let expected = try io.tensor("decoded")
        #expect(maxAbsDifference(decoded, expected) <= Self.tolerance * maxAbs(expected))
    }

    @Test func configReadsScalingFactor() throws {
        let folder = ModelFixtures.folder("vae", "two-level")
        let config = try AutoencoderKLConfig.load(from: folder.appendingPathComponent("config.json"))
        #expect(config.scalingFactor == 0.5)
        #expect(config.blockOutChannels == [16, 24])
        #expect(try AutoencoderKL.load(directory: folder).downscaleFactor == 2)
    }

    @Test func loadReportsProblemsByName() throws {
        let folder = ModelFixtures.folder("vae", "two-level")
        let config = try AutoencoderKLConfig.load(from: folder.appendingPathComponent("config.json"))
        let store = try WeightStore.load(folder: folder)
        let edited = store
            .filtered { $0 != "decoder.mid_block.attentions.0.to_k.bias" }
            .overlaid(with: WeightStore(tensors: ["encoder.conv_in.weight": Tensor.zeros([16, 3, 3])]))
        let error = #expect(throws: DiffusionError.self) {
            try AutoencoderKL(config: config, weights: edited, origin: "edited")
        }
        #expect(error?.message.contains("missing 1: decoder.mid_block.attentions.0.to_k.bias") == true)
        #expect(error?.message.contains("encoder.conv_in.weight is [16, 3, 3], expected [16, 3, 3, 3]") == true)
    }

    /// The decoder-only VAE (what generation loads) decodes exactly as the whole one, holds none
    /// of the encoder's weights, refuses to encode with a clear error, and still reports problems
    /// in the decoder's tensors, while a broken encoder tensor does not stop it.
    @Test func decoderOnlyDecodesTheSameAndHoldsNoEncoder() throws {
        let folder = ModelFixtures.folder("vae", "sd-small")
        let whole = try AutoencoderKL.load(directory: folder)
        let decoderOnly = try AutoencoderKL.load(directory: folder, parts: .decoder)
        let latents = try ModelFixtures.io("vae", "sd-small").tensor("latents")
        #expect(maxAbsDifference(try decoderOnly.decode(latents), try whole.decode(latents)) == 0)
        #expect(decoderOnly.encoder == nil && decoderOnly.quantConv == nil)
        #expect(!decoderOnly.parameters.keys.contains { $0.hasPrefix("encoder.") || $0.hasPrefix("quant_conv.") })
        #expect(decoderOnly.parameters.count < whole.parameters.count)
        let refusal = #expect(throws: DiffusionError.self) { try decoderOnly.encode(Tensor.zeros([1, 3, 16, 16])) }
        #expect(refusal?.message.contains("decoder only") == true)

        let config = try AutoencoderKLConfig.load(from: folder.appendingPathComponent("config.json"))
        let store = try WeightStore.load(folder: folder)
        let brokenEncoder = store.overlaid(with: WeightStore(tensors: ["encoder.conv_in.weight": Tensor.zeros([1])]))
        _ = try AutoencoderKL(config: config, weights: brokenEncoder, parts: .decoder)
        let brokenDecoder = store.filtered { $0 != "decoder.conv_in.weight" }
        let error = #expect(throws: DiffusionError.self) { try AutoencoderKL(config: config, weights: brokenDecoder, parts: .decoder) }
        #expect(error?.message.contains("missing 1: decoder.conv_in.weight") == true)
    }

    @Test func tinySDFolderLoadsCompletely() throws {
        let vae = try AutoencoderKL.load(directory: ModelFixtures.folder("tiny-sd", "vae"))
        let image = try vae.decode(Tensor.zeros([1, 4, 2, 3]))
        #expect(image.shape == [1, 3, 16, 24])
        let unet = try UNet2DConditionModel.load(directory: ModelFixtures.folder("tiny-sd", "unet"))
        let noise = try unet(Tensor.zeros([2, 4, 4, 6]), timestep: 1, encoderHiddenStates: Tensor.zeros([2, 77, 16]))
        #expect(noise.shape == [2, 4, 4, 6])
        #expect(noise.scalars.allSatisfy { $0.isFinite })
    }

    @Test func badInputsThrow() throws {
        let vae = try AutoencoderKL.load(directory: ModelFixtures.folder("vae", "two-level"))
        #expect(throws: DiffusionError.self) { try vae.decode(Tensor.zeros([1, 3, 4, 4])) }
        #expect(throws: DiffusionError.self) { try vae.encode(Tensor.zeros([1, 4, 8])) }
        #expect(throws: DiffusionError.self) { try vae.encode(Tensor.zeros([1, 3, 1, 8])) }
        #expect(try vae.encode(Tensor.zeros([1, 3, 3, 2])).mean.shape == [1, 4, 1, 1])
    }
}

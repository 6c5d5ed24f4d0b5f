import Foundation
import Testing
import Tensor
@testable import Diffusion
import TestSupport

/// Parity of the AutoencoderTiny (TAESD) decoder with diffusers 0.42.1 on the committed
/// random-init models (ops/reference/make_taesd_fixtures.py), at the VAE tests' tolerance (max
/// abs error ≤ 1e-4 × max |reference|), and its use as decoder and early-abort preview.
@Suite struct TinyVAETests {
    static let tolerance: Float = 1e-4

    @Test(arguments: [("small", "a"), ("small", "b"), ("three-stage", "a")])
    func decodeMatchesDiffusers(name: String, input: String) throws {
        let tiny = try AutoencoderTiny.load(directory: ModelFixtures.folder("vae-tiny", name))
        let io = try ModelFixtures.io("vae-tiny", name)
        let decoded = try tiny.decode(try io.tensor("latents_\(input)"))
        let expected = try io.tensor("decoded_\(input)")
        #expect(decoded.shape == expected.shape)
        let error = maxAbsDifference(decoded, expected)
        #expect(error <= Self.tolerance * maxAbs(expected), "max abs error \(error), scale \(maxAbs(expected))")
    }

    @Test func configReadsTheDecoderFields() throws {
        let small = try AutoencoderTiny.load(directory: ModelFixtures.folder("vae-tiny", "small"))
        #expect(small.config.numDecoderBlocks == [3, 3, 3, 1])
        #expect(small.config.scalingFactor == 1)
        #expect(small.scalingFactor == 1)
        #expect(small.downscaleFactor == 8)
        // 10 blocks of 3 convolutions with bias, conv_in and the last conv with bias, 3 stage
        // convolutions without: only decoder tensors are taken.
        #expect(small.parameters.count == 10 * 6 + 2 + 2 + 3)
        #expect(small.parameters.keys.allSatisfy { $0.hasPrefix("decoder.layers.") })
        let threeStage = try AutoencoderTiny.load(directory: ModelFixtures.folder("vae-tiny", "three-stage"))
        #expect(threeStage.downscaleFactor == 9)
        #expect(AutoencoderTinyConfig.stableDiffusion.decoderBlockOutChannels == [64, 64, 64, 64])
    }

    @Test func anAutoencoderKLFolderIsRefusedByClass() throws {
        let error = #expect(throws: DiffusionError.self) {
            try AutoencoderTiny.load(directory: ModelFixtures.folder("vae", "two-level"))
        }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains("_class_name is 'AutoencoderKL'; expected 'AutoencoderTiny'") == true)
    }

    @Test func badConfigsAreNamed() throws {
        var config = AutoencoderTinyConfig(decoderBlockOutChannels: [8, 16], numDecoderBlocks: [1, 1])
        #expect(throws: DiffusionError.self) { try config.validate() }
        config = AutoencoderTinyConfig(decoderBlockOutChannels: [8, 8], numDecoderBlocks: [1])
        let counts = #expect(throws: DiffusionError.self) { try config.validate() }
        #expect(counts?.message.contains("num_decoder_blocks has 1 entries") == true)
        config = AutoencoderTinyConfig(decoderBlockOutChannels: [8], numDecoderBlocks: [1])
        config.actFn = "gelu"
        let activation = #expect(throws: DiffusionError.self) { try config.validate() }
        #expect(activation?.message.contains("act_fn gelu is not supported") == true)
        config.actFn = "relu"
        config.className = nil
        let missingClass = #expect(throws: DiffusionError.self) { try config.validate() }
        #expect(missingClass?.message.contains("_class_name is missing") == true)
    }

    @Test func loadReportsTensorProblemsByName() throws {
        let folder = ModelFixtures.folder("vae-tiny", "small")
        let config = try AutoencoderTinyConfig.load(from: folder.appendingPathComponent("config.json"))
        let store = try WeightStore.load(folder: folder)
        // The encoder is not needed: a decoder-only file loads.
        let decoderOnly = store.filtered { $0.hasPrefix("decoder.") }
        #expect(try AutoencoderTiny(config: config, weights: decoderOnly).parameters.count == 67)
        let edited = store
            .filtered { $0 != "decoder.layers.2.conv.2.bias" }
            .overlaid(with: WeightStore(tensors: [
                "decoder.layers.6.weight": Tensor.zeros([8, 8, 3]),
                "decoder.layers.6.bias": Tensor.zeros([8]),
            ]))
        let error = #expect(throws: DiffusionError.self) {
            try AutoencoderTiny(config: config, weights: edited, origin: "edited")
        }
        #expect(error?.code == .missingTensor)
        #expect(error?.message.contains("missing 1: decoder.layers.2.conv.2.bias") == true)
        #expect(error?.message.contains("decoder.layers.6.weight is [8, 8, 3], expected [8, 8, 3, 3]") == true)
        #expect(error?.message.contains("unknown 1: decoder.layers.6.bias") == true)
    }

    @Test func badLatentsThrow() throws {
        let tiny = try AutoencoderTiny.load(directory: ModelFixtures.folder("vae-tiny", "small"))
        #expect(throws: DiffusionError.self) { try tiny.decode(Tensor.zeros([1, 3, 4, 4])) }
        #expect(throws: DiffusionError.self) { try tiny.decode(Tensor.zeros([4, 4, 4])) }
    }

    @Test func randomWeightsBuildSDsLayout() throws {
        let tiny = try AutoencoderTiny(config: AutoencoderTinyConfig(decoderBlockOutChannels: [8, 8, 8, 8]), randomSeed: 1)
        let image = try tiny.decode(Tensor.zeros([1, 4, 2, 3]))
        #expect(image.shape == [1, 3, 16, 24])
        #expect(image.scalars.allSatisfy { $0.isFinite })
    }
}

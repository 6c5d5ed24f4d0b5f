import Foundation
import Testing
import Tensor
@testable import Diffusion
import TestSupport

/// The tiny decoder inside a model folder (`vae_tiny/`): the early-abort preview prefers it and
/// the pipeline can decode with it. Works on scratch copies of `tiny-sd`, never the fixture.
@Suite struct TinyVAEModelFolderTests {
    /// `tiny-sd` copied file by file into a fresh temporary folder, with `vae-tiny/<tiny>`
    /// added as `vae_tiny/` when given.
    static func scratchModel(tiny: String?) throws -> URL {
        let target = TestPaths.scratchFolder("chaperone-taesd")
        try TestPaths.copyFiles(of: TestPaths.fixture("tiny-sd"), to: target)
        if let tiny {
            try TestPaths.copyFiles(of: ModelFixtures.folder("vae-tiny", tiny),
                                    to: target.appendingPathComponent(StableDiffusionModelFolder.tinyVAEFolderName))
        }
        return target
    }

    @Test func previewPrefersTheTinyDecoder() throws {
        let folder = try Self.scratchModel(tiny: "small")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try StableDiffusionModelFolder(url: folder).tinyVAE != nil)
        let pipeline = try StableDiffusionPipeline.load(folder: folder)
        let preview = try LatentPreview.load(folder: folder, pipeline: pipeline)
        #expect(preview.kind == "tiny")
        guard case .tiny = preview else { Issue.record("expected the tiny preview, got \(preview.kind)"); return }

        // The preview is the full-size image of diffusers' decode (scaling factor 1).
        let io = try ModelFixtures.io("vae-tiny", "small")
        let image = try preview.decode(try io.tensor("latents_a"), width: 64, height: 64)
        #expect(image.width == 64 && image.height == 64 && image.channels == 3)
        let expected = try PixelBuffer(imageTensor: try io.tensor("decoded_a"))
        let worst = zip(image.bytes, expected.bytes).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 1, "8-bit preview differs from diffusers' decode by up to \(worst)")
        #expect(throws: DiffusionError.self) { try preview.decode(try io.tensor("latents_a"), width: 32, height: 32) }
    }

    @Test func withoutTheTinyDecoderThePreviewIsUnchanged() throws {
        let folder = try Self.scratchModel(tiny: nil)
        defer { try? FileManager.default.removeItem(at: folder) }
        let pipeline = try StableDiffusionPipeline.load(folder: folder)
        #expect(try pipeline.loadTinyDecoder(folder: folder) == nil)
        #expect(try LatentPreview.load(folder: folder, pipeline: pipeline).kind == "linear")
        let error = #expect(throws: DiffusionError.self) { try pipeline.withTinyDecoder(folder: folder) }
        #expect(error?.message.contains("vae_tiny: missing") == true)
    }

    @Test func aTinyDecoderOfAnotherFactorIsRefused() throws {
        let folder = try Self.scratchModel(tiny: "three-stage")
        defer { try? FileManager.default.removeItem(at: folder) }
        let pipeline = try StableDiffusionPipeline.load(folder: folder)
        let error = #expect(throws: DiffusionError.self) { try LatentPreview.load(folder: folder, pipeline: pipeline) }
        #expect(error?.message.contains("decodes 9x the latent size, the model's VAE 8x") == true)
    }

    @Test func thePipelineDecodesWithTheTinyDecoder() throws {
        let folder = try Self.scratchModel(tiny: "small")
        defer { try? FileManager.default.removeItem(at: folder) }
        let full = try StableDiffusionPipeline.load(folder: folder)
        let pipeline = try full.withTinyDecoder(folder: folder)
        #expect(pipeline.decoder is AutoencoderTiny)
        var configuration = StableDiffusionPipeline.Configuration(prompt: "a red square")
        configuration.width = 32
        configuration.height = 24
        configuration.steps = 2
        let result = try pipeline.generate(configuration)
        #expect(result.image.width == 32 && result.image.height == 24)
        let tiny = try #require(pipeline.decoder as? AutoencoderTiny)
        let decodedByTiny = try tiny.decodeImage(result.latents)
        #expect(result.image == decodedByTiny)
        // Same sampling, other decoder: the latents are the full pipeline's.
        let reference = try full.generate(configuration)
        #expect(maxAbsDifference(result.latents, reference.latents) == 0)
        #expect(result.image != reference.image)
    }
}

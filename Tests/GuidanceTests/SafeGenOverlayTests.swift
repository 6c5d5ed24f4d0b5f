import Foundation
import Testing
import Diffusion
import Tensor
@testable import Guidance
import TestSupport

@Suite struct SafeGenOverlayTests {
    static let fixtures = TestPaths.fixtures
    let safegen = fixtures.appendingPathComponent("safegen")

    func baseUNet() throws -> UNet2DConditionModel {
        try UNet2DConditionModel.load(directory: Self.fixtures.appendingPathComponent("tiny-sd/unet"))
    }

    @Test func overlayEqualsDiffusersLoadingTheEditedUNet() throws {
        let base = try baseUNet()
        let overlay = try SafeGenOverlay.load(file: safegen.appendingPathComponent("overlay.safetensors"))
        // The tool printed this digest when it wrote the fixture (sha256sum agrees).
        #expect(overlay.sha256 == "ab95e9deb3294ba8cdcd33c0d1f0f18f48f0d8ebe476e45cab584242b028ebae")
        #expect(overlay.tensors.names.count == 20)
        let edited = try overlay.apply(to: base)

        let io = try WeightStore(files: [safegen.appendingPathComponent("edited-unet-io.safetensors")])
        let sample = try io.tensor("sample")
        let states = try io.tensor("encoder_hidden_states")
        let timesteps = try io.tensor("timesteps").scalars
        let expected = try io.tensor("noise")
        let got = try edited(sample, timesteps: timesteps, encoderHiddenStates: states)
        let scale = expected.scalars.map(abs).max()!
        let error = zip(got.scalars, expected.scalars).map { abs($0 - $1) }.max()!
        #expect(error <= 1e-4 * max(scale, 1), "max abs error \(error) at output scale \(scale)")

        // The base UNet gives a different answer: the overlay really changed something.
        let plain = try base(sample, timesteps: timesteps, encoderHiddenStates: states)
        #expect(zip(plain.scalars, expected.scalars).map { abs($0 - $1) }.max()! > 1e-3)
    }

    /// With a LoRA: the LoRA is merged at load, then SafeGen's attn1 replaces the merged attn1
    /// (a LoRA cannot change the self-attention SafeGen edited); every other layer keeps the LoRA.
    @Test func safeGenReplacesTheLoRAMergedSelfAttention() throws {
        let lora = try LoRA.load(file: Self.fixtures.appendingPathComponent("lora/peft.safetensors"))
        let pipeline = try StableDiffusionPipeline.load(
            folder: Self.fixtures.appendingPathComponent("tiny-sd"), loras: [ScaledLoRA(lora, scale: 0.7)])
        let merged = try #require(pipeline.noisePredictor as? UNet2DConditionModel)
        let overlay = try SafeGenOverlay.load(file: safegen.appendingPathComponent("overlay.safetensors"))
        let edited = try overlay.apply(to: merged)
        let base = try baseUNet()
        var adaptedOutsideAttn1 = 0
        for (name, weight) in edited.parameters {
            let values = weight.float32().scalars
            if overlay.tensors.contains(name) {
                #expect(values == (try overlay.tensors.tensor(name)).scalars, "\(name)")
            } else {
                #expect(values == merged.parameters[name]!.float32().scalars, "\(name)")
                if values != base.parameters[name]!.float32().scalars { adaptedOutsideAttn1 += 1 }
            }
        }
        #expect(adaptedOutsideAttn1 > 0)
        #expect(lora.layers.contains { $0.key.contains(".attn1.") }, "the LoRA adapts attn1 too")
    }

    @Test func editedModelSharesEveryOtherTensor() throws {
        let base = try baseUNet()
        let overlay = try SafeGenOverlay.load(file: safegen.appendingPathComponent("overlay.safetensors"))
        let edited = try overlay.apply(to: base)
        for (name, tensor) in base.parameters where !SafeGenOverlay.isSelfAttentionParameter(name) {
            let shared = tensor.sharesStorage(with: edited.parameters[name]!)
            #expect(shared, "\(name) was copied")
        }
    }

    @Test func fullEditedFolderGivesTheSameTensors() throws {
        let base = try baseUNet()
        let fromFolder = try SafeGenOverlay.extract(editedUNet: safegen.appendingPathComponent("edited-unet"), base: base)
        let fromFile = try SafeGenOverlay.load(file: safegen.appendingPathComponent("overlay.safetensors"))
        #expect(fromFolder.tensors.names == fromFile.tensors.names)
        for name in fromFile.tensors.names {
            #expect(try fromFolder.tensors.tensor(name).scalars == fromFile.tensors.tensor(name).scalars)
        }
        #expect(fromFolder.sha256.count == 64)
    }

    @Test(arguments: [
        ("bad-cross-attention.safetensors", "is not a self-attention (attn1) parameter"),
        ("bad-shape.safetensors", "has shape"),
        ("bad-unknown.safetensors", "is not a parameter of the loaded UNet"),
        ("bad-truncated.safetensors", "bad-truncated.safetensors"),
        ("missing.safetensors", "cannot read"),
    ])
    func badOverlaysAreRefusedNamingTheOffender(file: String, message: String) throws {
        let base = try baseUNet()
        #expect {
            let overlay = try SafeGenOverlay.load(file: safegen.appendingPathComponent(file))
            _ = try overlay.apply(to: base)
        } throws: { error in
            let text = String(describing: error)
            return text.contains(message) && text.contains(file)
        }
    }

    @Test func crossAttentionOffenderIsNamed() throws {
        let base = try baseUNet()
        let overlay = try SafeGenOverlay.load(file: safegen.appendingPathComponent("bad-cross-attention.safetensors"))
        #expect { _ = try overlay.apply(to: base) } throws: { String(describing: $0).contains(".attn2.") }
    }

    @Test func selfAttentionNamesOnly() {
        #expect(SafeGenOverlay.isSelfAttentionParameter("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"))
        #expect(SafeGenOverlay.isSelfAttentionParameter("mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0.bias"))
        #expect(!SafeGenOverlay.isSelfAttentionParameter("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.weight"))
        #expect(!SafeGenOverlay.isSelfAttentionParameter("mid_block.attentions.0.transformer_blocks.0.attn10.to_q.weight"))
        #expect(!SafeGenOverlay.isSelfAttentionParameter("down_blocks.0.attentions.0.proj_in.weight"))
    }
}

import Foundation

extension StableDiffusionPipeline {
    /// Loads every component of a diffusers model folder (see `StableDiffusionModelFolder`):
    /// CLIP tokenizer and text encoder, UNet, VAE and the scheduler config. fp32, fp16 and bf16
    /// safetensors all load; `weightPrecision` chooses how the large weight matrices are held
    /// (by default in the file's precision: a 16-bit checkpoint stays 16-bit and mapped, and is
    /// widened per layer as it runs). The safety checker, if present, is not loaded here: harm
    /// scoring owns it.
    public static func load(folder url: URL, weightPrecision: WeightPrecision = .file) throws -> StableDiffusionPipeline {
        let folder = try StableDiffusionModelFolder(url: url)
        let encoder = CLIPPromptEncoder(
            tokenizer: try CLIPTokenizer(folder: folder.tokenizer),
            textModel: try CLIPTextModel(folder: folder.textEncoder, precision: weightPrecision))
        let unet = try UNet2DConditionModel.load(directory: folder.unet, precision: weightPrecision)
        let vae = try AutoencoderKL.load(directory: folder.vae, precision: weightPrecision)
        let textWidth = encoder.textModel.config.hiddenSize
        guard unet.config.crossAttentionDim == textWidth else {
            throw DiffusionError(.invalidConfig,
                "\(folder.unet.path): cross_attention_dim \(unet.config.crossAttentionDim) does not match the text encoder's hidden size \(textWidth)")
        }
        guard vae.config.latentChannels == unet.config.inChannels else {
            throw DiffusionError(.invalidConfig,
                "\(folder.vae.path): latent_channels \(vae.config.latentChannels) does not match the UNet's in_channels \(unet.config.inChannels)")
        }
        return StableDiffusionPipeline(
            promptEncoder: encoder, noisePredictor: unet, decoder: vae, schedulerConfig: try folder.schedulerConfig())
    }
}

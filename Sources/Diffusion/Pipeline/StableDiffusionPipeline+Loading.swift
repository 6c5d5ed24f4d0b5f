import Foundation

extension StableDiffusionPipeline {
    /// Loads every component of a diffusers model folder (see `StableDiffusionModelFolder`):
    /// CLIP tokenizer and text encoder, UNet, VAE and the scheduler config. fp32, fp16 and bf16
    /// safetensors all load; `weightPrecision` chooses how the large weight matrices are held
    /// (by default in the file's precision: a 16-bit checkpoint stays 16-bit and mapped, and is
    /// widened per layer as it runs). The safety checker, if present, is not loaded here: harm
    /// scoring owns it.
    ///
    /// `loras` are merged into the text encoder's and the UNet's weights before the models are
    /// built, in order (each on the result of the one before); merged matrices are held in memory
    /// as float32, or as half with `weightPrecision` `.float16`.
    public static func load(
        folder url: URL, weightPrecision: WeightPrecision = .file, loras: [ScaledLoRA] = []
    ) throws -> StableDiffusionPipeline {
        let folder = try StableDiffusionModelFolder(url: url)
        var textWeights = try WeightStore.load(folder: folder.textEncoder)
        var unetWeights = try WeightStore.load(folder: folder.unet)
        for lora in loras {
            textWeights = try lora.apply(to: textWeights, component: .textEncoder)
            unetWeights = try lora.apply(to: unetWeights, component: .unet)
        }
        let textModel = try CLIPTextModel(
            config: CLIPTextConfig.load(folder.textEncoder.appendingPathComponent("config.json")),
            weights: textWeights, source: folder.textEncoder.path, precision: weightPrecision)
        let encoder = CLIPPromptEncoder(tokenizer: try CLIPTokenizer(folder: folder.tokenizer), textModel: textModel)
        let unet = try UNet2DConditionModel(
            config: UNet2DConditionConfig.load(from: folder.unet.appendingPathComponent("config.json")),
            weights: unetWeights, origin: folder.unet.path, precision: weightPrecision)
        // Generation only decodes: the VAE encoder's weights stay unread in the file.
        let vae = try AutoencoderKL.load(directory: folder.vae, precision: weightPrecision, parts: .decoder)
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

    /// The model folder's tiny decoder (`vae_tiny/`, diffusers `AutoencoderTiny`), checked
    /// against this pipeline's latent channels and spatial factor; nil when the folder has none.
    public func loadTinyDecoder(folder url: URL) throws -> AutoencoderTiny? {
        guard let directory = try StableDiffusionModelFolder(url: url).tinyVAE else { return nil }
        let tiny = try AutoencoderTiny.load(directory: directory)
        try checkDecoder(tiny, latentChannels: tiny.config.latentChannels, source: directory.path)
        return tiny
    }

    /// This pipeline decoding with the model folder's tiny decoder; throws when the folder has none.
    public func withTinyDecoder(folder url: URL) throws -> StableDiffusionPipeline {
        guard let tiny = try loadTinyDecoder(folder: url) else {
            throw DiffusionError(.io,
                "\(url.appendingPathComponent(StableDiffusionModelFolder.tinyVAEFolderName).path): missing (the tiny decoder needs a diffusers AutoencoderTiny folder there)")
        }
        return try replacingDecoder(tiny, latentChannels: tiny.config.latentChannels, source: "tiny decoder")
    }
}

import Tensor

/// The denoising network: predicts noise for a batch of latents at one timestep.
///
/// `UNet2DConditionModel` conforms; tests and benchmarks can substitute other predictors.
public protocol NoisePredictor: Sendable {
    /// Latent channels the predictor expects (4 for SD v1.x).
    var latentChannels: Int { get }
    /// Predicts noise for `sample` [B, C, h, w] at `timestep`, conditioned on
    /// `encoderHiddenStates` [B, S, D].
    func predictNoise(_ sample: Tensor, timestep: Float, encoderHiddenStates: Tensor) throws -> Tensor
}

/// Turns latents back into an image (the VAE decoder).
public protocol LatentDecoder: Sendable {
    /// The VAE's `scaling_factor`: the pipeline divides latents by it before decoding.
    var scalingFactor: Float { get }
    /// Spatial factor between image and latents (8 for SD v1.x).
    var downscaleFactor: Int { get }
    /// Decodes scaled-back latents [1, C, h, w] into an image [1, 3, h·f, w·f] in [-1, 1].
    func decode(_ latents: Tensor) throws -> Tensor
}

extension LatentDecoder {
    /// Latents as the UNet sees them [1, C, h, w] → 8-bit RGB: `latents / scaling_factor` →
    /// `decode` → diffusers' conversion ((x / 2 + 0.5) clamped, rounded).
    public func decodeImage(_ latents: Tensor) throws -> PixelBuffer {
        let factor = scalingFactor
        return try PixelBuffer(imageTensor: decode(Elementwise.map(latents) { $0 / factor }))
    }
}

/// Turns prompts into the text-encoder hidden states the UNet attends to.
public protocol PromptEncoder: Sendable {
    /// Encodes each prompt to [S, D] and returns them stacked as [N, S, D], with a note for
    /// every prompt that was cut to the tokenizer's length (never containing the prompt text).
    func encode(_ prompts: [String]) throws -> (embeddings: Tensor, truncations: [String])
}

/// The CLIP tokenizer plus text encoder, as SD v1.x uses them (`last_hidden_state`).
public struct CLIPPromptEncoder: PromptEncoder {
    public let tokenizer: CLIPTokenizer
    public let textModel: CLIPTextModel

    public init(tokenizer: CLIPTokenizer, textModel: CLIPTextModel) {
        self.tokenizer = tokenizer
        self.textModel = textModel
    }

    public func encode(_ prompts: [String]) throws -> (embeddings: Tensor, truncations: [String]) {
        var ids: [[Int]] = []
        var notes: [String] = []
        for (index, prompt) in prompts.enumerated() {
            let tokenization = tokenizer.encode(prompt)
            ids.append(tokenization.inputIDs)
            if let truncation = tokenization.truncation {
                notes.append("prompt \(index): kept \(truncation.keptTokenCount) tokens, dropped \(truncation.droppedTokenCount)")
            }
        }
        return (try textModel.encode(ids).lastHiddenState, notes)
    }
}

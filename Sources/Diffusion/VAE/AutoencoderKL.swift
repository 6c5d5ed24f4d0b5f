import Foundation
import Tensor

/// The encoder half of AutoencoderKL: image [B, 3, H, W] → moments [B, 2·latent, H/f, W/f]
/// (mean and log-variance), f = 2^(levels−1).
public struct VAEEncoder: Sendable {
    public let convIn: Conv2d
    public let downBlocks: [VAEBlock]
    public let midBlock: VAEMidBlock
    public let convNormOut: GroupNorm
    public let convOut: Conv2d

    init(_ p: ParameterReader, _ prefix: String, config c: AutoencoderKLConfig) {
        let channels = c.blockOutChannels
        convIn = Conv2d(p, prefix + "conv_in.", inChannels: c.inChannels, outChannels: channels[0], kernel: 3, padding: 1)
        downBlocks = channels.indices.map { i in
            VAEBlock(p, prefix + "down_blocks.\(i).", inChannels: i == 0 ? channels[0] : channels[i - 1],
                     outChannels: channels[i], layers: c.layersPerBlock, groups: c.normNumGroups,
                     downsample: i < channels.count - 1)
        }
        let last = channels[channels.count - 1]
        midBlock = VAEMidBlock(p, prefix + "mid_block.", channels: last, groups: c.normNumGroups,
                               addAttention: c.midBlockAddAttention)
        convNormOut = GroupNorm(p, prefix + "conv_norm_out.", groups: c.normNumGroups, channels: last, eps: 1e-6)
        convOut = Conv2d(p, prefix + "conv_out.", inChannels: last, outChannels: 2 * c.latentChannels, kernel: 3, padding: 1)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = convIn(x)
        for block in downBlocks { h = block(h) }
        h = midBlock(h)
        return convOut.afterGroupNormSiLU(convNormOut, h)
    }
}

/// The decoder half of AutoencoderKL: latents [B, latent, h, w] → image [B, 3, f·h, f·w].
public struct VAEDecoder: Sendable {
    public let convIn: Conv2d
    public let midBlock: VAEMidBlock
    public let upBlocks: [VAEBlock]
    public let convNormOut: GroupNorm
    public let convOut: Conv2d

    init(_ p: ParameterReader, _ prefix: String, config c: AutoencoderKLConfig) {
        let reversed = Array(c.blockOutChannels.reversed())
        convIn = Conv2d(p, prefix + "conv_in.", inChannels: c.latentChannels, outChannels: reversed[0], kernel: 3, padding: 1)
        midBlock = VAEMidBlock(p, prefix + "mid_block.", channels: reversed[0], groups: c.normNumGroups,
                               addAttention: c.midBlockAddAttention)
        upBlocks = reversed.indices.map { i in
            VAEBlock(p, prefix + "up_blocks.\(i).", inChannels: i == 0 ? reversed[0] : reversed[i - 1],
                     outChannels: reversed[i], layers: c.layersPerBlock + 1, groups: c.normNumGroups,
                     upsample: i < reversed.count - 1)
        }
        let first = c.blockOutChannels[0]
        convNormOut = GroupNorm(p, prefix + "conv_norm_out.", groups: c.normNumGroups, channels: first, eps: 1e-6)
        convOut = Conv2d(p, prefix + "conv_out.", inChannels: first, outChannels: c.outChannels, kernel: 3, padding: 1)
    }

    func callAsFunction(_ z: Tensor) -> Tensor {
        var h = convIn(z)
        h = midBlock(h)
        for block in upBlocks { h = block(h) }
        return convOut.afterGroupNormSiLU(convNormOut, h)
    }
}

/// The diagonal Gaussian the encoder predicts for each latent.
public struct LatentDistribution: Sendable {
    /// [B, latent, h, w]
    public var mean: Tensor
    /// [B, latent, h, w], clamped to [-30, 20] like diffusers.
    public var logVariance: Tensor
}

/// Stable Diffusion's VAE, equal to diffusers' `AutoencoderKL` (encoder, `quant_conv`,
/// `post_quant_conv`, decoder) with weights under the diffusers names.
///
/// `encode` and `decode` work on unscaled latents like diffusers' `vae.encode`/`vae.decode`:
/// the pipeline multiplies encoder means by `config.scalingFactor` and divides latents by it
/// before decoding.
public struct AutoencoderKL: Sendable {
    /// Which halves of the autoencoder are built and held.
    public enum Parts: Sendable {
        /// Encoder and decoder.
        case all
        /// The decoder and `post_quant_conv` only: what generation needs. The encoder's weights
        /// (about 40 % of SD's VAE) stay unread in the file.
        case decoder
    }

    public let config: AutoencoderKLConfig
    /// Every weight by diffusers name, as held (see `WeightPrecision`).
    public let parameters: [String: WeightTensor]
    /// The encoder and `quant_conv`; nil when built with `.decoder`.
    public let encoder: VAEEncoder?
    public let quantConv: Conv2d?
    public let postQuantConv: Conv2d?
    public let decoder: VAEDecoder

    /// Builds the model from a `vae/` folder's weights; throws one error listing every missing,
    /// wrong-shape and unknown tensor by name.
    /// `precision` chooses how the convolution and linear weights are held.
    public init(
        config: AutoencoderKLConfig, weights: WeightStore, origin: String = "VAE weights",
        precision: WeightPrecision = .file, parts: Parts = .all
    ) throws {
        try config.validate()
        let reader = ParameterReader(weights, origin: origin, precision: precision)
        if parts == .decoder {
            reader.skip(prefix: "encoder.")
            reader.skip(prefix: "quant_conv.")
        }
        self.init(config: config, reader: reader, parts: parts)
        try reader.finish()
    }

    /// The architecture with seeded random weights (uniform ±1/√fan_in): for benchmarks.
    public init(config: AutoencoderKLConfig, randomSeed: UInt64, precision: WeightPrecision = .file, parts: Parts = .all) throws {
        try config.validate()
        self.init(config: config, reader: ParameterReader(randomSeed: randomSeed, precision: precision), parts: parts)
    }

    /// Loads `config.json` and the safetensors weights of a diffusers `vae/` folder.
    public static func load(directory: URL, precision: WeightPrecision = .file, parts: Parts = .all) throws -> AutoencoderKL {
        let config = try AutoencoderKLConfig.load(from: directory.appendingPathComponent("config.json"))
        let weights = try WeightStore.load(folder: directory)
        return try AutoencoderKL(config: config, weights: weights, origin: directory.path, precision: precision, parts: parts)
    }

    private init(config: AutoencoderKLConfig, reader p: ParameterReader, parts: Parts) {
        self.config = config
        let moments = 2 * config.latentChannels
        encoder = parts == .all ? VAEEncoder(p, "encoder.", config: config) : nil
        quantConv = parts == .all && config.useQuantConv
            ? Conv2d(p, "quant_conv.", inChannels: moments, outChannels: moments, kernel: 1) : nil
        postQuantConv = config.usePostQuantConv
            ? Conv2d(p, "post_quant_conv.", inChannels: config.latentChannels, outChannels: config.latentChannels, kernel: 1) : nil
        decoder = VAEDecoder(p, "decoder.", config: config)
        parameters = p.parameters
    }

    /// The spatial factor between images and latents, 2^(levels−1) (8 for SD).
    public var downscaleFactor: Int { 1 << (config.blockOutChannels.count - 1) }

    /// Latents [B, latent, h, w] → images [B, out, f·h, f·w] (about −1…1; not clamped).
    public func decode(_ latents: Tensor) throws -> Tensor {
        guard latents.rank == 4, latents.shape[1] == config.latentChannels,
              latents.shape[0] > 0, latents.shape[2] > 0, latents.shape[3] > 0 else {
            throw DiffusionError(.invalidInput, "VAE decode needs latents [B, \(config.latentChannels), h, w], got \(latents.shape)")
        }
        let z = postQuantConv?(latents) ?? latents
        return decoder(z)
    }

    /// Images [B, in, H, W] (−1…1, H and W ≥ f) → the latent distribution [B, latent, ⌊H/f⌋, ⌊W/f⌋].
    public func encode(_ images: Tensor) throws -> LatentDistribution {
        guard images.rank == 4, images.shape[1] == config.inChannels, images.shape[0] > 0 else {
            throw DiffusionError(.invalidInput, "VAE encode needs images [B, \(config.inChannels), H, W], got \(images.shape)")
        }
        // Each downsampler floors the size (right/bottom padding of one): smaller images vanish.
        guard images.shape[2] >= downscaleFactor, images.shape[3] >= downscaleFactor else {
            throw DiffusionError(.invalidInput,
                "VAE encode needs images at least \(downscaleFactor)x\(downscaleFactor), got \(images.shape)")
        }
        guard let encoder else {
            throw DiffusionError(.invalidInput, "VAE encode needs the encoder, and this VAE was built with its decoder only")
        }
        var moments = encoder(images)
        if let quantConv { moments = quantConv(moments) }
        let halves = moments.split(sizes: [config.latentChannels, config.latentChannels], axis: 1)
        return LatentDistribution(mean: halves[0], logVariance: halves[1].clamped(min: -30, max: 20))
    }
}

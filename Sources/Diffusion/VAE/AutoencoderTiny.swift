import Foundation
import Tensor

/// diffusers `AutoencoderTinyBlock` at one width: conv, ReLU, conv, ReLU, conv (3×3, padding 1,
/// `<prefix>conv.0/2/4.*`), plus the input, then ReLU. The decoder's stages keep their width,
/// so the skip is the identity.
public struct TinyAutoencoderBlock: Sendable {
    public let convs: [Conv2d]

    init(_ p: ParameterReader, _ prefix: String, channels: Int) {
        convs = [0, 2, 4].map {
            Conv2d(p, prefix + "conv.\($0).", inChannels: channels, outChannels: channels, kernel: 3, padding: 1)
        }
    }

    /// x [B, C, H, W] → [B, C, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = convs[2](convs[1](convs[0](x).relu()).relu())
        return (h + x).relu()
    }
}

/// diffusers `DecoderTiny`: latents [B, latent, h, w] → image [B, out, f·h, f·w] with
/// f = upsampling_scaling_factor^(stages−1).
///
/// The weights sit in one `nn.Sequential` (`decoder.layers.<i>.*`): conv_in (3×3) and ReLU,
/// then per stage its blocks, a nearest upsampling (all but the last stage) and a 3×3 conv
/// (without bias except in the last stage, which maps to the output channels). The index of
/// each layer counts the parameterless ReLU and upsampling modules too.
public struct TinyVAEDecoder: Sendable {
    /// One stage: blocks, then (all but the last) ×factor nearest upsampling, then a conv.
    public struct Stage: Sendable {
        public let blocks: [TinyAutoencoderBlock]
        public let upsamples: Bool
        public let conv: Conv2d
    }

    public let convIn: Conv2d
    public let stages: [Stage]
    public let upsamplingFactor: Int

    init(_ p: ParameterReader, _ prefix: String, config c: AutoencoderTinyConfig) {
        let width = c.decoderBlockOutChannels[0]
        convIn = Conv2d(p, prefix + "layers.0.", inChannels: c.latentChannels, outChannels: width, kernel: 3, padding: 1)
        var index = 2   // layers.1 is the ReLU after conv_in
        var stages: [Stage] = []
        for (stage, count) in c.numDecoderBlocks.enumerated() {
            let isLast = stage == c.numDecoderBlocks.count - 1
            var blocks: [TinyAutoencoderBlock] = []
            for _ in 0..<count {
                blocks.append(TinyAutoencoderBlock(p, prefix + "layers.\(index).", channels: width))
                index += 1
            }
            if !isLast { index += 1 }   // the upsampling module
            let conv = Conv2d(p, prefix + "layers.\(index).", inChannels: width,
                              outChannels: isLast ? c.outChannels : width, kernel: 3, padding: 1, bias: isLast)
            index += 1
            stages.append(Stage(blocks: blocks, upsamples: !isLast, conv: conv))
        }
        self.stages = stages
        upsamplingFactor = c.upsamplingScalingFactor
    }

    /// Soft-clamps the latents (tanh(z/3)·3), runs the layers (TAESD's image in [0, 1]) and maps
    /// the result to diffusers' [−1, 1] convention (·2 − 1), like diffusers' `DecoderTiny.forward`.
    func callAsFunction(_ z: Tensor) -> Tensor {
        var h = convIn(z.map { Foundation.tanh($0 / 3) * 3 }).relu()
        for stage in stages {
            for block in stage.blocks { h = block(h) }
            if stage.upsamples { h = h.upsampleNearest(scale: upsamplingFactor) }
            h = stage.conv(h)
        }
        return h.map { $0 * 2 - 1 }
    }
}

/// The decoder of diffusers' `AutoencoderTiny` (TAESD, a distilled VAE): a fraction of
/// `AutoencoderKL`'s decoding cost, close to its images. Weights under the diffusers names
/// (`decoder.layers.<i>.*`); the encoder's tensors (`encoder.*`), present in published folders,
/// are not used and not required.
///
/// `decode` works on unscaled latents like diffusers' `vae.decode`: the pipeline divides by
/// `config.scalingFactor` (1.0 for TAESD) first.
public struct AutoencoderTiny: Sendable {
    public let config: AutoencoderTinyConfig
    /// Every decoder weight by diffusers name, as held (see `WeightPrecision`).
    public let parameters: [String: WeightTensor]
    public let decoder: TinyVAEDecoder

    /// Builds the decoder from a folder's weights; throws one error listing every missing,
    /// wrong-shape and unknown tensor by name (tensors under `encoder.` are ignored).
    /// `precision` chooses how the convolution weights are held.
    public init(
        config: AutoencoderTinyConfig, weights: WeightStore, origin: String = "AutoencoderTiny weights",
        precision: WeightPrecision = .file
    ) throws {
        try config.validate()
        let reader = ParameterReader(weights.filtered { !$0.hasPrefix("encoder.") }, origin: origin, precision: precision)
        self.init(config: config, reader: reader)
        try reader.finish()
    }

    /// The architecture with seeded random weights (uniform ±1/√fan_in): for benchmarks.
    public init(config: AutoencoderTinyConfig, randomSeed: UInt64, precision: WeightPrecision = .file) throws {
        try config.validate()
        self.init(config: config, reader: ParameterReader(randomSeed: randomSeed, precision: precision))
    }

    /// Loads `config.json` and the safetensors weights of a diffusers `AutoencoderTiny` folder.
    public static func load(directory: URL, precision: WeightPrecision = .file) throws -> AutoencoderTiny {
        let config = try AutoencoderTinyConfig.load(from: directory.appendingPathComponent("config.json"))
        let weights = try WeightStore.load(folder: directory)
        return try AutoencoderTiny(config: config, weights: weights, origin: directory.path, precision: precision)
    }

    private init(config: AutoencoderTinyConfig, reader p: ParameterReader) {
        self.config = config
        decoder = TinyVAEDecoder(p, "decoder.", config: config)
        parameters = p.parameters
    }

    /// The spatial factor between images and latents, factor^(stages−1) (8 for SD's TAESD).
    public var downscaleFactor: Int {
        (1..<config.numDecoderBlocks.count).reduce(1) { factor, _ in factor * config.upsamplingScalingFactor }
    }

    /// Latents [B, latent, h, w] → images [B, out, f·h, f·w] (about −1…1; not clamped).
    public func decode(_ latents: Tensor) throws -> Tensor {
        guard latents.rank == 4, latents.shape[1] == config.latentChannels,
              latents.shape[0] > 0, latents.shape[2] > 0, latents.shape[3] > 0 else {
            throw DiffusionError(.invalidInput, "AutoencoderTiny decode needs latents [B, \(config.latentChannels), h, w], got \(latents.shape)")
        }
        return decoder(latents)
    }
}

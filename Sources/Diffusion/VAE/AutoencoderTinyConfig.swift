import Foundation

/// The fields of a diffusers `AutoencoderTiny` (TAESD) `config.json` that the decoder uses, with
/// diffusers' defaults. The encoder's fields (`encoder_block_out_channels`, `num_encoder_blocks`)
/// are not read: only the decoder is implemented.
public struct AutoencoderTinyConfig: Codable, Sendable, Equatable {
    /// `_class_name`; must be `AutoencoderTiny` (an `AutoencoderKL` folder is refused by name).
    public var className: String?
    public var outChannels: Int
    public var latentChannels: Int
    /// Width of each decoder stage; diffusers' `DecoderTiny` only runs when they are all equal.
    public var decoderBlockOutChannels: [Int]
    /// `AutoencoderTinyBlock`s per decoder stage (SD's TAESD: 3, 3, 3, 1).
    public var numDecoderBlocks: [Int]
    /// Nearest-neighbour upsampling factor between stages.
    public var upsamplingScalingFactor: Int
    public var actFn: String
    public var upsampleFn: String
    /// Latents are divided by this before decoding (1.0 for TAESD, which decodes the UNet's
    /// scaled latents directly); the pipeline applies it, `decode` does not.
    public var scalingFactor: Float
    /// Used by TAESD's 8-bit latent (de)quantisation (`scale_latents`), not by decoding.
    public var latentMagnitude: Float
    /// Used by TAESD's 8-bit latent (de)quantisation (`scale_latents`), not by decoding.
    public var latentShift: Float
    /// A float16 hint for GPU runs; this engine always decodes in float32.
    public var forceUpcast: Bool

    public static let expectedClassName = "AutoencoderTiny"

    enum CodingKeys: String, CodingKey {
        case className = "_class_name"
        case outChannels = "out_channels"
        case latentChannels = "latent_channels"
        case decoderBlockOutChannels = "decoder_block_out_channels"
        case numDecoderBlocks = "num_decoder_blocks"
        case upsamplingScalingFactor = "upsampling_scaling_factor"
        case actFn = "act_fn"
        case upsampleFn = "upsample_fn"
        case scalingFactor = "scaling_factor"
        case latentMagnitude = "latent_magnitude"
        case latentShift = "latent_shift"
        case forceUpcast = "force_upcast"
    }

    /// SD v1.x's published TAESD decoder: 4 stages of 64 channels with 3, 3, 3, 1 blocks.
    public static let stableDiffusion = AutoencoderTinyConfig(
        decoderBlockOutChannels: [64, 64, 64, 64], numDecoderBlocks: [3, 3, 3, 1])

    /// A configuration with diffusers' defaults for every field not given.
    public init(
        outChannels: Int = 3, latentChannels: Int = 4, decoderBlockOutChannels: [Int] = [64, 64, 64, 64],
        numDecoderBlocks: [Int] = [3, 3, 3, 1], upsamplingScalingFactor: Int = 2, scalingFactor: Float = 1
    ) {
        self.className = Self.expectedClassName
        self.outChannels = outChannels
        self.latentChannels = latentChannels
        self.decoderBlockOutChannels = decoderBlockOutChannels
        self.numDecoderBlocks = numDecoderBlocks
        self.upsamplingScalingFactor = upsamplingScalingFactor
        self.actFn = "relu"
        self.upsampleFn = "nearest"
        self.scalingFactor = scalingFactor
        self.latentMagnitude = 3
        self.latentShift = 0.5
        self.forceUpcast = false
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        className = try c.decodeIfPresent(String.self, forKey: .className)
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 3
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? 4
        decoderBlockOutChannels = try c.decodeIfPresent([Int].self, forKey: .decoderBlockOutChannels) ?? [64, 64, 64, 64]
        numDecoderBlocks = try c.decodeIfPresent([Int].self, forKey: .numDecoderBlocks) ?? [3, 3, 3, 1]
        upsamplingScalingFactor = try c.decodeIfPresent(Int.self, forKey: .upsamplingScalingFactor) ?? 2
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? "relu"
        upsampleFn = try c.decodeIfPresent(String.self, forKey: .upsampleFn) ?? "nearest"
        scalingFactor = try c.decodeIfPresent(Float.self, forKey: .scalingFactor) ?? 1
        latentMagnitude = try c.decodeIfPresent(Float.self, forKey: .latentMagnitude) ?? 3
        latentShift = try c.decodeIfPresent(Float.self, forKey: .latentShift) ?? 0.5
        forceUpcast = try c.decodeIfPresent(Bool.self, forKey: .forceUpcast) ?? false
    }

    /// Reads and validates the `config.json` of a diffusers `AutoencoderTiny` folder.
    public static func load(from url: URL) throws -> AutoencoderTinyConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DiffusionError(.invalidConfig, "cannot read \(url.path): \(error.localizedDescription)")
        }
        let config: AutoencoderTinyConfig
        do { config = try JSONDecoder().decode(AutoencoderTinyConfig.self, from: data) } catch {
            throw DiffusionError(.invalidConfig, "\(url.path) is not a valid AutoencoderTiny config: \(error)")
        }
        try config.validate(source: url.path)
        return config
    }

    /// Checks that the configuration describes a tiny decoder this implementation runs.
    public func validate(source: String = "AutoencoderTiny config") throws {
        func fail(_ message: String) -> DiffusionError { DiffusionError(.invalidConfig, "\(source): \(message)") }
        guard className == Self.expectedClassName else {
            throw fail("_class_name is \(className.map { "'\($0)'" } ?? "missing"); expected '\(Self.expectedClassName)' (a TAESD folder)")
        }
        let stages = decoderBlockOutChannels.count
        guard stages > 0 else { throw fail("decoder_block_out_channels is empty") }
        guard numDecoderBlocks.count == stages else {
            throw fail("num_decoder_blocks has \(numDecoderBlocks.count) entries, decoder_block_out_channels \(stages); they must match")
        }
        guard let width = decoderBlockOutChannels.first, width > 0, decoderBlockOutChannels.allSatisfy({ $0 == width }) else {
            throw fail("decoder_block_out_channels \(decoderBlockOutChannels) must be equal positive widths (diffusers' DecoderTiny runs only then)")
        }
        guard numDecoderBlocks.allSatisfy({ $0 >= 0 }) else { throw fail("num_decoder_blocks \(numDecoderBlocks) must not be negative") }
        guard outChannels > 0, latentChannels > 0 else { throw fail("out_channels and latent_channels must be positive") }
        guard upsamplingScalingFactor >= 1 else { throw fail("upsampling_scaling_factor must be at least 1, got \(upsamplingScalingFactor)") }
        guard actFn == "relu" else { throw fail("act_fn \(actFn) is not supported (relu)") }
        guard upsampleFn == "nearest" else { throw fail("upsample_fn \(upsampleFn) is not supported (nearest)") }
        guard scalingFactor.isFinite, scalingFactor != 0 else { throw fail("scaling_factor must be finite and non-zero") }
    }
}

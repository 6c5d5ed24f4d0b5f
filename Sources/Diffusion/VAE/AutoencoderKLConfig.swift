import Foundation

/// The fields of a diffusers `vae/config.json` (AutoencoderKL) with diffusers' defaults.
public struct AutoencoderKLConfig: Codable, Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var downBlockTypes: [String]
    public var upBlockTypes: [String]
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var actFn: String
    public var latentChannels: Int
    public var normNumGroups: Int
    public var sampleSize: Int?
    /// Latents are multiplied by this after encoding and divided by it before decoding
    /// (0.18215 for SD v1.x); the pipeline applies it, `encode`/`decode` do not.
    public var scalingFactor: Float
    /// Subtracted before scaling when set (not used by SD v1.x).
    public var shiftFactor: Float?
    public var useQuantConv: Bool
    public var usePostQuantConv: Bool
    public var midBlockAddAttention: Bool

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case actFn = "act_fn"
        case latentChannels = "latent_channels"
        case normNumGroups = "norm_num_groups"
        case sampleSize = "sample_size"
        case scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor"
        case useQuantConv = "use_quant_conv"
        case usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
    }

    /// SD v1.x's VAE: 128/256/512/512 channels, 2 layers per block, 4 latent channels.
    public static let stableDiffusion = AutoencoderKLConfig(
        blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, sampleSize: 512)

    /// A configuration with diffusers' defaults for every field not given.
    public init(
        inChannels: Int = 3, outChannels: Int = 3, blockOutChannels: [Int], layersPerBlock: Int = 1,
        latentChannels: Int = 4, normNumGroups: Int = 32, sampleSize: Int? = nil, scalingFactor: Float = 0.18215
    ) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.downBlockTypes = Array(repeating: "DownEncoderBlock2D", count: blockOutChannels.count)
        self.upBlockTypes = Array(repeating: "UpDecoderBlock2D", count: blockOutChannels.count)
        self.blockOutChannels = blockOutChannels
        self.layersPerBlock = layersPerBlock
        self.actFn = "silu"
        self.latentChannels = latentChannels
        self.normNumGroups = normNumGroups
        self.sampleSize = sampleSize
        self.scalingFactor = scalingFactor
        self.shiftFactor = nil
        self.useQuantConv = true
        self.usePostQuantConv = true
        self.midBlockAddAttention = true
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 3
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 3
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? [64]
        downBlockTypes = try c.decodeIfPresent([String].self, forKey: .downBlockTypes)
            ?? Array(repeating: "DownEncoderBlock2D", count: blockOutChannels.count)
        upBlockTypes = try c.decodeIfPresent([String].self, forKey: .upBlockTypes)
            ?? Array(repeating: "UpDecoderBlock2D", count: blockOutChannels.count)
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? 1
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? "silu"
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? 4
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? 32
        sampleSize = try? c.decodeIfPresent(Int.self, forKey: .sampleSize)
        scalingFactor = try c.decodeIfPresent(Float.self, forKey: .scalingFactor) ?? 0.18215
        shiftFactor = try c.decodeIfPresent(Float.self, forKey: .shiftFactor)
        useQuantConv = try c.decodeIfPresent(Bool.self, forKey: .useQuantConv) ?? true
        usePostQuantConv = try c.decodeIfPresent(Bool.self, forKey: .usePostQuantConv) ?? true
        midBlockAddAttention = try c.decodeIfPresent(Bool.self, forKey: .midBlockAddAttention) ?? true
    }

    /// Reads and validates `config.json` of a diffusers `vae/` folder.
    public static func load(from url: URL) throws -> AutoencoderKLConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DiffusionError(.invalidConfig, "cannot read \(url.path): \(error.localizedDescription)")
        }
        let config: AutoencoderKLConfig
        do { config = try JSONDecoder().decode(AutoencoderKLConfig.self, from: data) } catch {
            throw DiffusionError(.invalidConfig, "\(url.path) is not a valid AutoencoderKL config: \(error)")
        }
        try config.validate(source: url.path)
        return config
    }

    /// Checks that the configuration describes an AutoencoderKL this implementation runs.
    public func validate(source: String = "VAE config") throws {
        func fail(_ message: String) -> DiffusionError { DiffusionError(.invalidConfig, "\(source): \(message)") }
        let levels = blockOutChannels.count
        guard levels > 0 else { throw fail("block_out_channels is empty") }
        guard downBlockTypes.count == levels, upBlockTypes.count == levels else {
            throw fail("down_block_types and up_block_types must have \(levels) entries, one per block_out_channels")
        }
        for type in downBlockTypes where type != "DownEncoderBlock2D" {
            throw fail("down block type \(type) is not supported (DownEncoderBlock2D)")
        }
        for type in upBlockTypes where type != "UpDecoderBlock2D" {
            throw fail("up block type \(type) is not supported (UpDecoderBlock2D)")
        }
        guard normNumGroups > 0, blockOutChannels.allSatisfy({ $0 > 0 && $0 % normNumGroups == 0 }) else {
            throw fail("every block_out_channels entry \(blockOutChannels) must be a positive multiple of norm_num_groups \(normNumGroups)")
        }
        guard inChannels > 0, outChannels > 0, latentChannels > 0, layersPerBlock > 0 else {
            throw fail("in_channels, out_channels, latent_channels and layers_per_block must be positive")
        }
        guard actFn == "silu" else { throw fail("act_fn \(actFn) is not supported (silu)") }
        guard scalingFactor.isFinite, scalingFactor != 0 else { throw fail("scaling_factor must be finite and non-zero") }
    }
}

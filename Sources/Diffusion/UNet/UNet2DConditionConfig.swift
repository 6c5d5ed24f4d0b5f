import Foundation

/// The fields of a diffusers `unet/config.json` that an SD v1.x UNet2DConditionModel uses.
///
/// Field names match diffusers' (snake_case in JSON); a missing field takes diffusers' default.
/// Features SD v1.x does not use (class or addition embeddings, other time embeddings, other
/// block types, ...) are rejected by `validate()` with the field's name, never ignored.
public struct UNet2DConditionConfig: Codable, Sendable, Equatable {
    public var sampleSize: Int?
    public var inChannels: Int
    public var outChannels: Int
    public var downBlockTypes: [String]
    public var midBlockType: String?
    public var upBlockTypes: [String]
    public var blockOutChannels: [Int]
    public var layersPerBlock: PerBlock<Int>
    public var transformerLayersPerBlock: PerBlock<Int>
    /// Despite its name, diffusers uses this as the number of heads when `num_attention_heads`
    /// is absent (a historical naming slip kept for checkpoint compatibility).
    public var attentionHeadDim: PerBlock<Int>
    public var numAttentionHeads: PerBlock<Int>?
    public var crossAttentionDim: Int
    public var normNumGroups: Int
    public var normEps: Float
    public var flipSinToCos: Bool
    public var freqShift: Int
    public var actFn: String
    public var useLinearProjection: Bool
    public var downsamplePadding: Int
    public var upcastAttention: Bool

    // Fields read only to refuse configurations this implementation does not support.
    public var classEmbedType: String?
    public var additionEmbedType: String?
    public var timeEmbeddingType: String
    public var resnetTimeScaleShift: String
    public var timeCondProjDim: Int?
    public var encoderHidDim: Int?
    public var dualCrossAttention: Bool
    public var onlyCrossAttention: Bool
    public var centerInputSample: Bool
    public var convInKernel: Int
    public var convOutKernel: Int
    public var midBlockScaleFactor: Float
    public var timeEmbeddingDim: Int?
    public var timestepPostAct: String?
    public var timeEmbeddingActFn: String?

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size"
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case downBlockTypes = "down_block_types"
        case midBlockType = "mid_block_type"
        case upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case transformerLayersPerBlock = "transformer_layers_per_block"
        case attentionHeadDim = "attention_head_dim"
        case numAttentionHeads = "num_attention_heads"
        case crossAttentionDim = "cross_attention_dim"
        case normNumGroups = "norm_num_groups"
        case normEps = "norm_eps"
        case flipSinToCos = "flip_sin_to_cos"
        case freqShift = "freq_shift"
        case actFn = "act_fn"
        case useLinearProjection = "use_linear_projection"
        case downsamplePadding = "downsample_padding"
        case upcastAttention = "upcast_attention"
        case classEmbedType = "class_embed_type"
        case additionEmbedType = "addition_embed_type"
        case timeEmbeddingType = "time_embedding_type"
        case resnetTimeScaleShift = "resnet_time_scale_shift"
        case timeCondProjDim = "time_cond_proj_dim"
        case encoderHidDim = "encoder_hid_dim"
        case dualCrossAttention = "dual_cross_attention"
        case onlyCrossAttention = "only_cross_attention"
        case centerInputSample = "center_input_sample"
        case convInKernel = "conv_in_kernel"
        case convOutKernel = "conv_out_kernel"
        case midBlockScaleFactor = "mid_block_scale_factor"
        case timeEmbeddingDim = "time_embedding_dim"
        case timestepPostAct = "timestep_post_act"
        case timeEmbeddingActFn = "time_embedding_act_fn"
    }

    /// SD v1.5's UNet: 320/640/1280/1280 channels, 8 heads, 768-wide text conditioning.
    public static let stableDiffusion15 = UNet2DConditionConfig(
        sampleSize: 64, inChannels: 4, outChannels: 4,
        downBlockTypes: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        upBlockTypes: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        blockOutChannels: [320, 640, 1280, 1280], layersPerBlock: 2, attentionHeadDim: .shared(8),
        crossAttentionDim: 768)

    /// A configuration with diffusers' defaults for every field not given.
    public init(
        sampleSize: Int? = nil, inChannels: Int = 4, outChannels: Int = 4,
        downBlockTypes: [String], upBlockTypes: [String], blockOutChannels: [Int],
        layersPerBlock: Int = 2, attentionHeadDim: PerBlock<Int> = .shared(8), crossAttentionDim: Int = 1280,
        normNumGroups: Int = 32, normEps: Float = 1e-5, flipSinToCos: Bool = true, freqShift: Int = 0,
        useLinearProjection: Bool = false
    ) {
        self.sampleSize = sampleSize
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.downBlockTypes = downBlockTypes
        self.midBlockType = "UNetMidBlock2DCrossAttn"
        self.upBlockTypes = upBlockTypes
        self.blockOutChannels = blockOutChannels
        self.layersPerBlock = .shared(layersPerBlock)
        self.transformerLayersPerBlock = .shared(1)
        self.attentionHeadDim = attentionHeadDim
        self.numAttentionHeads = nil
        self.crossAttentionDim = crossAttentionDim
        self.normNumGroups = normNumGroups
        self.normEps = normEps
        self.flipSinToCos = flipSinToCos
        self.freqShift = freqShift
        self.actFn = "silu"
        self.useLinearProjection = useLinearProjection
        self.downsamplePadding = 1
        self.upcastAttention = false
        self.classEmbedType = nil
        self.additionEmbedType = nil
        self.timeEmbeddingType = "positional"
        self.resnetTimeScaleShift = "default"
        self.timeCondProjDim = nil
        self.encoderHidDim = nil
        self.dualCrossAttention = false
        self.onlyCrossAttention = false
        self.centerInputSample = false
        self.convInKernel = 3
        self.convOutKernel = 3
        self.midBlockScaleFactor = 1
        self.timeEmbeddingDim = nil
        self.timestepPostAct = nil
        self.timeEmbeddingActFn = nil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sampleSize = try? c.decodeIfPresent(Int.self, forKey: .sampleSize)
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 4
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 4
        downBlockTypes = try c.decodeIfPresent([String].self, forKey: .downBlockTypes)
            ?? ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
        midBlockType = try c.decodeIfPresent(String.self, forKey: .midBlockType) ?? "UNetMidBlock2DCrossAttn"
        upBlockTypes = try c.decodeIfPresent([String].self, forKey: .upBlockTypes)
            ?? ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? [320, 640, 1280, 1280]
        layersPerBlock = try c.decodeIfPresent(PerBlock<Int>.self, forKey: .layersPerBlock) ?? .shared(2)
        transformerLayersPerBlock = try c.decodeIfPresent(PerBlock<Int>.self, forKey: .transformerLayersPerBlock) ?? .shared(1)
        attentionHeadDim = try c.decodeIfPresent(PerBlock<Int>.self, forKey: .attentionHeadDim) ?? .shared(8)
        numAttentionHeads = try c.decodeIfPresent(PerBlock<Int>.self, forKey: .numAttentionHeads)
        crossAttentionDim = try c.decodeIfPresent(Int.self, forKey: .crossAttentionDim) ?? 1280
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? 32
        normEps = try c.decodeIfPresent(Float.self, forKey: .normEps) ?? 1e-5
        flipSinToCos = try c.decodeIfPresent(Bool.self, forKey: .flipSinToCos) ?? true
        freqShift = try c.decodeIfPresent(Int.self, forKey: .freqShift) ?? 0
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? "silu"
        useLinearProjection = try c.decodeIfPresent(Bool.self, forKey: .useLinearProjection) ?? false
        downsamplePadding = try c.decodeIfPresent(Int.self, forKey: .downsamplePadding) ?? 1
        upcastAttention = try c.decodeIfPresent(Bool.self, forKey: .upcastAttention) ?? false
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        additionEmbedType = try c.decodeIfPresent(String.self, forKey: .additionEmbedType)
        timeEmbeddingType = try c.decodeIfPresent(String.self, forKey: .timeEmbeddingType) ?? "positional"
        resnetTimeScaleShift = try c.decodeIfPresent(String.self, forKey: .resnetTimeScaleShift) ?? "default"
        timeCondProjDim = try c.decodeIfPresent(Int.self, forKey: .timeCondProjDim)
        encoderHidDim = try c.decodeIfPresent(Int.self, forKey: .encoderHidDim)
        dualCrossAttention = try c.decodeIfPresent(Bool.self, forKey: .dualCrossAttention) ?? false
        switch try c.decodeIfPresent(PerBlock<Bool>.self, forKey: .onlyCrossAttention) {
        case .shared(let flag): onlyCrossAttention = flag
        case .perBlock(let flags): onlyCrossAttention = flags.contains(true)
        case nil: onlyCrossAttention = false
        }
        centerInputSample = try c.decodeIfPresent(Bool.self, forKey: .centerInputSample) ?? false
        convInKernel = try c.decodeIfPresent(Int.self, forKey: .convInKernel) ?? 3
        convOutKernel = try c.decodeIfPresent(Int.self, forKey: .convOutKernel) ?? 3
        midBlockScaleFactor = try c.decodeIfPresent(Float.self, forKey: .midBlockScaleFactor) ?? 1
        timeEmbeddingDim = try c.decodeIfPresent(Int.self, forKey: .timeEmbeddingDim)
        timestepPostAct = try c.decodeIfPresent(String.self, forKey: .timestepPostAct)
        timeEmbeddingActFn = try c.decodeIfPresent(String.self, forKey: .timeEmbeddingActFn)
    }

    /// Reads and validates `config.json` of a diffusers `unet/` folder.
    public static func load(from url: URL) throws -> UNet2DConditionConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DiffusionError(.invalidConfig, "cannot read \(url.path): \(error.localizedDescription)")
        }
        let config: UNet2DConditionConfig
        do { config = try JSONDecoder().decode(UNet2DConditionConfig.self, from: data) } catch {
            throw DiffusionError(.invalidConfig, "\(url.path) is not a valid UNet config: \(error)")
        }
        try config.validate(source: url.path)
        return config
    }

    /// Per-level numbers derived from the config, with diffusers' defaulting rules applied.
    struct Resolved {
        var heads: [Int]
        var layers: [Int]
        var transformerLayers: [Int]
    }

    /// Checks that the configuration describes an SD v1.x-style UNet this implementation runs.
    public func validate(source: String = "UNet config") throws {
        func fail(_ message: String) -> DiffusionError { DiffusionError(.invalidConfig, "\(source): \(message)") }
        let levels = blockOutChannels.count
        guard levels > 0 else { throw fail("block_out_channels is empty") }
        guard downBlockTypes.count == levels, upBlockTypes.count == levels else {
            throw fail("down_block_types (\(downBlockTypes.count)) and up_block_types (\(upBlockTypes.count)) must both have \(levels) entries, one per block_out_channels")
        }
        for type in downBlockTypes where type != "CrossAttnDownBlock2D" && type != "DownBlock2D" {
            throw fail("down block type \(type) is not supported (CrossAttnDownBlock2D, DownBlock2D)")
        }
        for type in upBlockTypes where type != "CrossAttnUpBlock2D" && type != "UpBlock2D" {
            throw fail("up block type \(type) is not supported (CrossAttnUpBlock2D, UpBlock2D)")
        }
        if let mid = midBlockType, mid != "UNetMidBlock2DCrossAttn" {
            throw fail("mid_block_type \(mid) is not supported (UNetMidBlock2DCrossAttn)")
        }
        guard inChannels > 0, outChannels > 0, crossAttentionDim > 0 else {
            throw fail("in_channels, out_channels and cross_attention_dim must be positive")
        }
        guard normNumGroups > 0, blockOutChannels.allSatisfy({ $0 > 0 && $0 % normNumGroups == 0 }) else {
            throw fail("every block_out_channels entry \(blockOutChannels) must be a positive multiple of norm_num_groups \(normNumGroups)")
        }
        guard actFn == "silu" else { throw fail("act_fn \(actFn) is not supported (silu)") }
        guard downsamplePadding >= 0 else { throw fail("downsample_padding must not be negative") }
        let unsupported: [(String, Bool)] = [
            ("class_embed_type", classEmbedType != nil),
            ("addition_embed_type", additionEmbedType != nil),
            ("time_embedding_type \(timeEmbeddingType)", timeEmbeddingType != "positional"),
            ("resnet_time_scale_shift \(resnetTimeScaleShift)", resnetTimeScaleShift != "default"),
            ("time_cond_proj_dim", timeCondProjDim != nil),
            ("encoder_hid_dim", encoderHidDim != nil),
            ("dual_cross_attention", dualCrossAttention),
            ("only_cross_attention", onlyCrossAttention),
            ("center_input_sample", centerInputSample),
            ("conv_in_kernel \(convInKernel)", convInKernel != 3),
            ("conv_out_kernel \(convOutKernel)", convOutKernel != 3),
            ("mid_block_scale_factor \(midBlockScaleFactor)", midBlockScaleFactor != 1),
            ("time_embedding_dim", timeEmbeddingDim != nil),
            ("timestep_post_act", timestepPostAct != nil),
            ("time_embedding_act_fn", timeEmbeddingActFn != nil),
        ]
        for (field, isSet) in unsupported where isSet {
            throw fail("\(field) is not supported by this SD v1.x UNet")
        }
        let resolved = try resolve(source: source)
        for (level, heads) in resolved.heads.enumerated() {
            guard heads > 0, blockOutChannels[level] % heads == 0 else {
                throw fail("block \(level): \(blockOutChannels[level]) channels do not split into \(heads) attention heads")
            }
        }
    }

    /// Applies diffusers' rules: heads come from `num_attention_heads`, else `attention_head_dim`.
    func resolve(source: String = "UNet config") throws -> Resolved {
        let levels = blockOutChannels.count
        func expand(_ value: PerBlock<Int>, _ field: String) throws -> [Int] {
            guard let list = value.expanded(count: levels) else {
                throw DiffusionError(.invalidConfig, "\(source): \(field) must have one entry per block (\(levels))")
            }
            guard list.allSatisfy({ $0 > 0 }) else {
                throw DiffusionError(.invalidConfig, "\(source): \(field) entries must be positive, got \(list)")
            }
            return list
        }
        return Resolved(
            heads: try expand(numAttentionHeads ?? attentionHeadDim, numAttentionHeads == nil ? "attention_head_dim" : "num_attention_heads"),
            layers: try expand(layersPerBlock, "layers_per_block"),
            transformerLayers: try expand(transformerLayersPerBlock, "transformer_layers_per_block"))
    }
}

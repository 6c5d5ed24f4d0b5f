import Foundation
import Tensor

/// Stable Diffusion v1.x's denoiser, equal to diffusers' `UNet2DConditionModel` for the
/// configurations `UNet2DConditionConfig.validate()` accepts.
///
/// The model keeps its weights in `parameters`, keyed by the exact diffusers state-dict names
/// (`down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight`, …), and its layers
/// share those tensors without copies. `replacingParameters(_:)` builds a variant that swaps
/// some tensors (a SafeGen `attn1` overlay) while sharing every other tensor with this one.
public struct UNet2DConditionModel: Sendable {
    public let config: UNet2DConditionConfig
    /// Every weight by diffusers name, as held (see `WeightPrecision`); the layers below hold
    /// the same (shared) storage.
    public let parameters: [String: WeightTensor]

    public let convIn: Conv2d
    public let timeEmbedding: TimestepEmbedding
    public let downBlocks: [UNetDownBlock]
    public let midBlock: UNetMidBlock
    public let upBlocks: [UNetUpBlock]
    public let convNormOut: GroupNorm
    public let convOut: Conv2d

    /// Builds the model from a `unet/` folder's weights; throws one error listing every missing,
    /// wrong-shape and unknown tensor by name.
    /// `precision` chooses how the convolution and linear weights are held.
    public init(
        config: UNet2DConditionConfig, weights: WeightStore, origin: String = "UNet weights",
        precision: WeightPrecision = .file
    ) throws {
        try config.validate()
        let reader = ParameterReader(weights, origin: origin, precision: precision)
        try self.init(config: config, reader: reader)
        try reader.finish()
    }

    /// Builds the model from tensors in memory keyed by diffusers names.
    public init(config: UNet2DConditionConfig, parameters: [String: Tensor], origin: String = "UNet parameters") throws {
        try self.init(config: config, weights: WeightStore(tensors: parameters), origin: origin)
    }

    /// The architecture with seeded random weights (uniform ±1/√fan_in): for benchmarks.
    /// `precision` `.float16` rounds the weight matrices to half, as a float32 checkpoint so stored.
    public init(config: UNet2DConditionConfig, randomSeed: UInt64, precision: WeightPrecision = .file) throws {
        try config.validate()
        try self.init(config: config, reader: ParameterReader(randomSeed: randomSeed, precision: precision))
    }

    /// Loads `config.json` and the safetensors weights of a diffusers `unet/` folder.
    public static func load(directory: URL, precision: WeightPrecision = .file) throws -> UNet2DConditionModel {
        let config = try UNet2DConditionConfig.load(from: directory.appendingPathComponent("config.json"))
        let weights = try WeightStore.load(folder: directory)
        return try UNet2DConditionModel(config: config, weights: weights, origin: directory.path, precision: precision)
    }

    private init(config: UNet2DConditionConfig, reader p: ParameterReader) throws {
        let levels = try config.resolve()
        let channels = config.blockOutChannels
        let count = channels.count
        let timeDim = channels[0] * 4
        func spec(_ level: Int, crossAttention: Bool, layers: Int) -> UNetLevelSpec {
            UNetLevelSpec(
                channels: channels[level], layers: layers, crossAttention: crossAttention,
                heads: levels.heads[level], transformerLayers: levels.transformerLayers[level],
                contextDim: config.crossAttentionDim, timeEmbeddingDim: timeDim,
                groups: config.normNumGroups, eps: config.normEps,
                useLinearProjection: config.useLinearProjection, downsamplePadding: config.downsamplePadding)
        }

        self.config = config
        convIn = Conv2d(p, "conv_in.", inChannels: config.inChannels, outChannels: channels[0], kernel: 3, padding: 1)
        timeEmbedding = TimestepEmbedding(p, "time_embedding.", inChannels: channels[0], timeEmbeddingDim: timeDim)

        var down: [UNetDownBlock] = []
        for (i, type) in config.downBlockTypes.enumerated() {
            down.append(UNetDownBlock(
                p, "down_blocks.\(i).",
                spec: spec(i, crossAttention: type == "CrossAttnDownBlock2D", layers: levels.layers[i]),
                inChannels: i == 0 ? channels[0] : channels[i - 1], addDownsample: i < count - 1))
        }
        downBlocks = down

        midBlock = UNetMidBlock(p, "mid_block.", spec: spec(count - 1, crossAttention: true, layers: 1))

        // The up path mirrors the down path: level i of the up path is level count-1-i.
        var up: [UNetUpBlock] = []
        for (i, type) in config.upBlockTypes.enumerated() {
            let level = count - 1 - i
            let previous = channels[min(level + 1, count - 1)]
            let input = channels[max(level - 1, 0)]
            let layers = levels.layers[level] + 1
            let skips = (0..<layers).map { $0 == layers - 1 ? input : channels[level] }
            up.append(UNetUpBlock(
                p, "up_blocks.\(i).",
                spec: spec(level, crossAttention: type == "CrossAttnUpBlock2D", layers: layers),
                previousChannels: previous, skipChannels: skips, addUpsample: i < count - 1))
        }
        upBlocks = up

        convNormOut = GroupNorm(p, "conv_norm_out.", groups: config.normNumGroups, channels: channels[0], eps: config.normEps)
        convOut = Conv2d(p, "conv_out.", inChannels: channels[0], outChannels: config.outChannels, kernel: 3, padding: 1)
        parameters = p.parameters
    }

    /// Predicts the noise in `sample`.
    ///
    /// - sample: latents [B, in_channels, h, w] (any h, w ≥ 1; sizes that are not a multiple of
    ///   2^(levels−1) are handled like diffusers, by sizing each upsample to its skip state)
    /// - timesteps: one per batch item, or one for the whole batch
    /// - encoderHiddenStates: text conditioning [B, S, cross_attention_dim]
    /// - Returns: [B, out_channels, h, w]
    /// - Throws: `DiffusionError(.invalidInput)` naming the mismatching shapes.
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor) throws -> Tensor {
        try checkInputs(sample, timesteps: timesteps, context: encoderHiddenStates)
        let batch = sample.shape[0]
        let steps = timesteps.count == 1 ? Array(repeating: timesteps[0], count: batch) : timesteps
        let tProj = sinusoidalTimestepEmbedding(
            steps, dim: config.blockOutChannels[0], flipSinToCos: config.flipSinToCos, freqShift: Float(config.freqShift))
        let temb = timeEmbedding(tProj)                              // [B, 4·C0]
        let context = encoderHiddenStates

        var h = convIn(sample)                                       // [B, C0, h, w]
        var skips: [Tensor] = [h]
        for block in downBlocks {
            let (out, states) = block(h, timeEmbedding: temb, context: context)
            h = out
            skips.append(contentsOf: states)
        }
        h = midBlock(h, timeEmbedding: temb, context: context)

        let factor = 1 << (config.blockOutChannels.count - 1)
        let forwardSize = sample.shape[2] % factor != 0 || sample.shape[3] % factor != 0
        for block in upBlocks {
            let n = block.resnets.count
            let mine = Array(skips.suffix(n))
            skips.removeLast(n)
            var size: (height: Int, width: Int)?
            if forwardSize, block.upsampler != nil, let next = skips.last {
                size = (next.shape[2], next.shape[3])
            }
            h = block(h, skips: mine, timeEmbedding: temb, context: context, upsampleSize: size)
        }
        return convOut(convNormOut.silu(h))                          // [B, out, h, w]
    }

    /// Same as the batched call with one timestep shared by the batch.
    public func callAsFunction(_ sample: Tensor, timestep: Float, encoderHiddenStates: Tensor) throws -> Tensor {
        try self(sample, timesteps: [timestep], encoderHiddenStates: encoderHiddenStates)
    }

    private func checkInputs(_ sample: Tensor, timesteps: [Float], context: Tensor) throws {
        guard sample.rank == 4, sample.shape[1] == config.inChannels, sample.shape[0] > 0,
              sample.shape[2] > 0, sample.shape[3] > 0 else {
            throw DiffusionError(.invalidInput, "UNet sample must be [B, \(config.inChannels), h, w], got \(sample.shape)")
        }
        guard context.rank == 3, context.shape[0] == sample.shape[0], context.shape[1] > 0,
              context.shape[2] == config.crossAttentionDim else {
            throw DiffusionError(.invalidInput,
                "UNet encoder hidden states must be [\(sample.shape[0]), S, \(config.crossAttentionDim)], got \(context.shape)")
        }
        guard timesteps.count == 1 || timesteps.count == sample.shape[0] else {
            throw DiffusionError(.invalidInput,
                "UNet got \(timesteps.count) timesteps for a batch of \(sample.shape[0]) (give 1 or \(sample.shape[0]))")
        }
        guard timesteps.allSatisfy(\.isFinite) else {
            throw DiffusionError(.invalidInput, "UNet timesteps must be finite, got \(timesteps)")
        }
    }
}

extension UNet2DConditionModel {
    /// Whether `name` is a self-attention (`attn1`) parameter of a transformer block: the only
    /// tensors a SafeGen overlay may replace.
    public static func isSelfAttentionParameter(_ name: String) -> Bool {
        name.contains(".attn1.")
    }

    /// A model whose tensors named in `overlay` are replaced and every other tensor shared with
    /// this one (no copy). Every overlay name must be a parameter of this model with the same
    /// shape, and `allowed` must accept it; otherwise one error lists the unknown, wrong-shape
    /// and refused names.
    public func replacingParameters(
        _ overlay: WeightStore, origin: String = "UNet overlay",
        allowed: (String) -> Bool = { _ in true }
    ) throws -> UNet2DConditionModel {
        var unknown: [String] = []
        var wrongShape: [(name: String, expected: [Int], actual: [Int])] = []
        var refused: [String] = []
        var merged = parameters
        for name in overlay.names {
            guard let current = parameters[name] else { unknown.append(name); continue }
            let shape = overlay.shape(of: name) ?? []
            guard shape == current.shape else { wrongShape.append((name, current.shape, shape)); continue }
            guard allowed(name) else { refused.append(name); continue }
            merged[name] = .float32(try overlay.tensor(name))
        }
        if !refused.isEmpty {
            throw DiffusionError(.unknownTensor, "\(origin): \(refused.count) tensor(s) may not be replaced: "
                + refused.prefix(20).joined(separator: ", "))
        }
        if !unknown.isEmpty || !wrongShape.isEmpty {
            throw ParameterReader.loadError(origin: origin, missing: [], wrongShape: wrongShape, unknown: unknown)
        }
        // `.file` keeps every shared weight as it is held (16-bit or float32) and the overlay's
        // tensors float32.
        return try UNet2DConditionModel(config: config, weights: WeightStore(weights: merged), origin: origin)
    }
}

import Tensor

extension AutoencoderKL: LatentDecoder {
    /// The config's `scaling_factor` (0.18215 for SD v1.x).
    public var scalingFactor: Float { config.scalingFactor }
}

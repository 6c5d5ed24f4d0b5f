import Tensor

extension AutoencoderTiny: LatentDecoder {
    /// The config's `scaling_factor` (1.0 for TAESD).
    public var scalingFactor: Float { config.scalingFactor }
}

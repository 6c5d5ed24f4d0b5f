import Tensor

extension UNet2DConditionModel: NoisePredictor {
    public var latentChannels: Int { config.inChannels }

    public func predictNoise(_ sample: Tensor, timestep: Float, encoderHiddenStates: Tensor) throws -> Tensor {
        try self(sample, timestep: timestep, encoderHiddenStates: encoderHiddenStates)
    }
}

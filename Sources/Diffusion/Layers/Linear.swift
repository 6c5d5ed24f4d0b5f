import Tensor

/// PyTorch `nn.Linear` holding `weight` [out, in] and optional `bias` [out] under their
/// diffusers names (`<prefix>weight`, `<prefix>bias`). The weight is held in the reader's
/// `WeightPrecision`; the bias is float32.
public struct Linear: Sendable {
    public let weight: WeightTensor
    public let bias: Tensor?

    /// Reads `<prefix>weight` (and `<prefix>bias` when `bias`) with the expected shapes.
    public init(_ p: ParameterReader, _ prefix: String, inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        weight = p.weight(prefix + "weight", [outFeatures, inFeatures])
        self.bias = bias ? p(prefix + "bias", [outFeatures]) : nil
    }

    /// x [..., in] → [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        linear(x, weight: weight, bias: bias)
    }
}

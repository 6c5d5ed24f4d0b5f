import Foundation
import Tensor

/// diffusers `FeedForward` with GEGLU, as in SD's transformer blocks:
/// `net.0.proj` (dim → 2·inner, split into value and gate), `value · gelu(gate)`, `net.2` (inner → dim).
public struct FeedForward: Sendable {
    public let proj: Linear
    public let out: Linear
    /// The value and gate halves of `net.0.proj` (row views, no copy).
    private let valueWeight: WeightTensor, valueBias: Tensor
    private let gateWeight: WeightTensor, gateBias: Tensor

    /// Reads `<prefix>net.0.proj.*` and `<prefix>net.2.*`; `inner` is 4·dim in SD.
    public init(_ p: ParameterReader, _ prefix: String, dim: Int, inner: Int) {
        proj = Linear(p, prefix + "net.0.proj.", inFeatures: dim, outFeatures: 2 * inner)
        out = Linear(p, prefix + "net.2.", inFeatures: inner, outFeatures: dim)
        let w = proj.weight, b = proj.bias ?? Tensor.zeros([2 * inner])
        if w.shape == [2 * inner, dim] && b.shape == [2 * inner] {
            valueWeight = w.narrowed(rows: 0, length: inner)
            gateWeight = w.narrowed(rows: inner, length: inner)
            valueBias = b.narrowed(axis: 0, start: 0, length: inner)
            gateBias = b.narrowed(axis: 0, start: inner, length: inner)
        } else {  // placeholder from a failed load; the load throws before any forward pass
            (valueWeight, gateWeight, valueBias, gateBias) = (w, w, b, b)
        }
    }

    /// x [..., dim] → [..., dim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var value = linear(x, weight: valueWeight, bias: valueBias)  // [..., inner]
        let gate = linear(x, weight: gateWeight, bias: gateBias)     // [..., inner]
        value.multiplyByGELU(of: gate)
        return out(value)
    }
}

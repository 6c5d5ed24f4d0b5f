import Foundation
import Tensor

/// diffusers `Timesteps`: the sinusoidal embedding of (possibly fractional) timesteps.
///
/// Frequencies are exp(-ln(10000)·i / (half − freq_shift)) for i < half = dim/2; the embedding is
/// [sin, cos] of timestep·frequency, or [cos, sin] with `flip_sin_to_cos`. Computed in float32
/// like PyTorch. Returns [B, dim].
public func sinusoidalTimestepEmbedding(
    _ timesteps: [Float], dim: Int, flipSinToCos: Bool, freqShift: Float, maxPeriod: Float = 10000
) -> Tensor {
    let half = dim / 2
    let logPeriod = -Float(Foundation.log(Double(maxPeriod)))
    let frequencies = (0..<half).map { i -> Float in
        expf(logPeriod * Float(i) / (Float(half) - freqShift))
    }
    var values = [Float](repeating: 0, count: timesteps.count * dim)
    for (b, t) in timesteps.enumerated() {
        let row = b * dim
        for i in 0..<half {
            let angle = t * frequencies[i]
            let (first, second) = flipSinToCos ? (cosf(angle), sinf(angle)) : (sinf(angle), cosf(angle))
            values[row + i] = first
            values[row + half + i] = second
        }
    }
    return Tensor(shape: [timesteps.count, dim], scalars: values)
}

/// diffusers `TimestepEmbedding`: `linear_1` → SiLU → `linear_2`.
public struct TimestepEmbedding: Sendable {
    public let linear1: Linear
    public let linear2: Linear

    /// Reads `<prefix>linear_1.*` and `<prefix>linear_2.*`.
    public init(_ p: ParameterReader, _ prefix: String, inChannels: Int, timeEmbeddingDim: Int) {
        linear1 = Linear(p, prefix + "linear_1.", inFeatures: inChannels, outFeatures: timeEmbeddingDim)
        linear2 = Linear(p, prefix + "linear_2.", inFeatures: timeEmbeddingDim, outFeatures: timeEmbeddingDim)
    }

    /// x [B, in] → [B, timeEmbeddingDim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        linear2(linear1(x).silu())
    }
}

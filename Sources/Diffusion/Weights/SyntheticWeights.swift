import Tensor

/// Deterministic pseudo-random weights, identical bit for bit to the reference tooling's
/// `synthetic_tensor` (ops/reference/common.py), so full-size parity checks need no large
/// committed checkpoint; also used by benchmarks.
///
/// Element `i` of stream `s` under `seed`:
/// `base = seed * 0xD1B54A32D192ED03 + s`, `z = splitmix64(base + (i + 1) * 0x9E3779B97F4A7C15)`,
/// `u = (z >> 40) / 2^24`, value `Float(mean + halfWidth * (2u - 1))` computed in Double.
public enum SyntheticWeights {
    /// A tensor of `shape` with values uniform in `mean ± halfWidth`.
    public static func tensor(seed: UInt64, stream: UInt64, shape: [Int], mean: Double, halfWidth: Double) -> Tensor {
        let base = seed &* 0xD1B5_4A32_D192_ED03 &+ stream
        return Tensor(shape: shape, unsafeUninitialized: { out in
            for i in 0..<out.count {
                var z = base &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                let u = Double(z >> 40) * (1.0 / 16_777_216.0)
                out[i] = Float(mean + halfWidth * (2.0 * u - 1.0))
            }
        })
    }
}

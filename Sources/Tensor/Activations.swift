import Foundation

// Unary elementwise math and activations. Shapes are unchanged.

extension Tensor {
    /// GELU with the exact erf form, `0.5·x·(1 + erf(x/√2))` (PyTorch's default `approximate='none'`).
    public func gelu() -> Tensor {
        vectorMapped { x in 0.5 * x * (1 + vectorErf(x * 0.70710678118654752)) }
    }

    /// `self · gelu(gate)` written into this tensor's storage (GEGLU's product of value and
    /// gated halves), with the same exact-erf GELU as `gelu()`; `gate` has this shape.
    public mutating func multiplyByGELU(of gate: Tensor) {
        precondition(shape == gate.shape, "multiplyByGELU: shapes \(shape) and \(gate.shape) differ")
        OpProfile.measure(.elementwise) {
            gate.withUnsafeBufferPointer { g in
                withUnsafeMutableBufferPointer { v in
                    let pv = v.baseAddress!, pg = g.baseAddress!, count = v.count
                    parallelFor(count / 8 + 1, minimumPerChunk: 2048) { r in
                        let start = r.lowerBound * 8, end = Swift.min(r.upperBound * 8, count)
                        guard start < end else { return }
                        let raw = UnsafeMutableRawPointer(pv + start), gates = UnsafeRawPointer(pg + start)
                        var i = 0
                        while i + 8 <= end - start {
                            let z = gates.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self)
                            let x = raw.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self)
                            raw.storeBytes(of: x * (0.5 * z * (1 + vectorErf(z * 0.70710678118654752))),
                                           toByteOffset: i * 4, as: FloatVector.self)
                            i += 8
                        }
                        if i < end - start {
                            var z = FloatVector(repeating: 0)
                            for j in i..<(end - start) { z[j - i] = pg[start + j] }
                            let factor = 0.5 * z * (1 + vectorErf(z * 0.70710678118654752))
                            for j in i..<(end - start) { pv[start + j] *= factor[j - i] }
                        }
                    }
                }
            }
        }
    }

    /// GELU with the tanh approximation (PyTorch `approximate='tanh'`).
    public func geluTanh() -> Tensor {
        // 1 + tanh(u) = 2 − 2 / (e^{2u} + 1), evaluated with the vector exp.
        vectorMapped { x in
            let inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            return 0.5 * x * (2 - 2 / (vectorExp(2 * inner) + 1))
        }
    }

    /// QuickGELU as used by CLIP: `x·sigmoid(1.702·x)`.
    public func quickGELU() -> Tensor {
        vectorMapped { x in x / (1 + vectorExp(-1.702 * x)) }
    }

    /// SiLU (swish): `x·sigmoid(x)`.
    public func silu() -> Tensor {
        vectorMapped(vectorSiLU)
    }

    /// Logistic sigmoid.
    public func sigmoid() -> Tensor {
        vectorMapped { x in 1 / (1 + vectorExp(-x)) }
    }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor { map { Foundation.tanh($0) } }

    /// Natural exponential.
    public func exp() -> Tensor { map { Foundation.exp($0) } }

    /// Natural logarithm.
    public func log() -> Tensor { map { Foundation.log($0) } }

    /// Absolute value.
    public func abs() -> Tensor { map { Swift.abs($0) } }

    /// Square root.
    public func sqrt() -> Tensor { map { $0.squareRoot() } }

    /// `x` raised to `exponent`.
    public func pow(_ exponent: Float) -> Tensor {
        if exponent == 2 { return map { $0 * $0 } }
        return map { Foundation.pow($0, exponent) }
    }

    /// Rectified linear unit.
    public func relu() -> Tensor { map { Swift.max($0, 0) } }

    /// Each element limited to `[min, max]`; a nil bound is open.
    public func clamped(min lower: Float? = nil, max upper: Float? = nil) -> Tensor {
        let lo = lower ?? -Float.infinity
        let hi = upper ?? Float.infinity
        precondition(lo <= hi, "clamped: min \(lo) is above max \(hi)")
        return map { Swift.min(Swift.max($0, lo), hi) }
    }
}

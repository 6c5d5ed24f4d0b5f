// Vectorised exp and erf on SIMD8<Float>, used by softmax, attention and the activations.
// Scalar libm calls dominate those kernels otherwise (attention computes Lq·Lk exponentials).

/// Lanes of the SIMD vectors used by the elementwise kernels.
typealias FloatVector = SIMD8<Float>

/// e^x with Cephes' range reduction and degree-6 polynomial (about 1 ulp on [-87, 88]).
/// Inputs are clamped to [-87.34, 88.72] first: -inf gives ~1.2e-38 (not 0) and +inf gives
/// ~3.4e38, which is what softmax and the activations need; NaN stays NaN.
@inline(__always)
func vectorExp(_ x: FloatVector) -> FloatVector {
    let upper = FloatVector(repeating: 88.72283)
    let lower = FloatVector(repeating: -87.33654)
    let clamped = x.replacing(with: lower, where: x .< lower).replacing(with: upper, where: x .> upper)
    // Round to nearest by adding 1.5·2^23: the integer lands in the low mantissa bits.
    let magic = FloatVector(repeating: 12_582_912)
    // Fused multiply-adds throughout (one rounding each, half the instructions of mul + add).
    let shifted = magic.addingProduct(clamped, FloatVector(repeating: 1.4426950408889634))
    let n = shifted - magic
    let ni = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    var r = clamped.addingProduct(n, FloatVector(repeating: -0.693359375))
    r = r.addingProduct(n, FloatVector(repeating: 2.12194440e-4))
    var p = FloatVector(repeating: 1.3981999507e-3).addingProduct(FloatVector(repeating: 1.9875691500e-4), r)
    p = FloatVector(repeating: 8.3334519073e-3).addingProduct(p, r)
    p = FloatVector(repeating: 4.1665795894e-2).addingProduct(p, r)
    p = FloatVector(repeating: 1.6666665459e-1).addingProduct(p, r)
    p = FloatVector(repeating: 5.0000001201e-1).addingProduct(p, r)
    p = (r + 1).addingProduct(p, r * r)
    // Scale by 2^n in two halves so n = 128 does not overflow the exponent field.
    let half = ni &>> 1
    let s1 = unsafeBitCast((half &+ 127) &<< 23, to: FloatVector.self)
    let s2 = unsafeBitCast((ni &- half &+ 127) &<< 23, to: FloatVector.self)
    return p * s1 * s2
}

/// erf(x) by Abramowitz & Stegun 7.1.26 (formula error < 1.5e-7, under 5e-7 in float): the
/// approximation PyTorch's vectorised CPU GELU uses, so exact-GELU results agree closely.
@inline(__always)
func vectorErf(_ x: FloatVector) -> FloatVector {
    let ax = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: FloatVector.self)
    let t = 1 / (ax * 0.3275911 + 1)
    var poly = FloatVector(repeating: 1.061405429)
    poly = poly * t - 1.453152027
    poly = poly * t + 1.421413741
    poly = poly * t - 0.284496736
    poly = poly * t + 0.254829592
    poly = poly * t
    let y = 1 - poly * vectorExp(-(ax * ax))
    return y.replacing(with: FloatVector(repeating: 0) - y, where: x .< 0)
}

/// Applies `vector` to 8-lane blocks and `scalar` to the remainder, from `src` into `dst`.
@inline(__always)
func vectorMap(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
    vector: (FloatVector) -> FloatVector
) {
    var i = 0
    let raw = UnsafeRawPointer(src), out = UnsafeMutableRawPointer(dst)
    while i + 8 <= count {
        let v = raw.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self)
        out.storeBytes(of: vector(v), toByteOffset: i * 4, as: FloatVector.self)
        i += 8
    }
    if i < count {
        var tail = FloatVector(repeating: 0)
        for j in i..<count { tail[j - i] = src[j] }
        let r = vector(tail)
        for j in i..<count { dst[j] = r[j - i] }
    }
}

extension Tensor {
    /// Applies a vectorised function to every element (parallel for large tensors).
    @inline(__always)
    func vectorMapped(_ vector: (FloatVector) -> FloatVector) -> Tensor {
        OpProfile.measure(.elementwise) {
            withUnsafeBufferPointer { src in
                Tensor(shape: shape) { out in
                    let o = out.baseAddress!, x = src.baseAddress!
                    parallelFor(out.count / 8 + 1, minimumPerChunk: 2048) { r in
                        let start = r.lowerBound * 8, end = Swift.min(r.upperBound * 8, out.count)
                        if start < end { vectorMap(x + start, o + start, count: end - start, vector: vector) }
                    }
                }
            }
        }
    }
}

/// x·sigmoid(x), vectorised.
@inline(__always)
func vectorSiLU(_ x: FloatVector) -> FloatVector { x / (1 + vectorExp(-x)) }

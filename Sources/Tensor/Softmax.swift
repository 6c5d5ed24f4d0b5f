import Foundation

// Softmax along one axis: x viewed as [outer, axis, inner].

extension Tensor {
    /// Numerically stable softmax along `axis` (max-subtracted, sum in Double).
    public func softmax(axis: Int = -1) -> Tensor {
        OpProfile.measure(.elementwise) {
            let a = normalizedAxis(axis, op: "softmax")
            let split = AxisSplit(shape, axis: a)
            return withUnsafeBufferPointer { src in
                Tensor(shape: shape) { out in
                    let o = out.baseAddress!, x = src.baseAddress!
                    parallelFor(split.outer * split.inner, minimumPerChunk: 16) { r in
                        for idx in r {
                            let outer = idx / split.inner, inner = idx % split.inner
                            let base = outer * split.length * split.inner + inner
                            if split.inner == 1 {
                                (o + base).update(from: x + base, count: split.length)
                                softmaxRowInPlace(o + base, count: split.length)
                            } else {
                                softmaxStrided(x + base, o + base, count: split.length, stride: split.inner)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Softmax of `count` values read every `stride` elements from `x`, written the same way to `y`.
@inline(__always)
func softmaxStrided(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, stride: Int) {
    guard count > 0 else { return }
    var m = -Float.infinity
    for k in 0..<count { m = Swift.max(m, x[k * stride]) }
    if m == -.infinity { m = 0 }
    var sum: Double = 0
    for k in 0..<count {
        let e = Foundation.exp(x[k * stride] - m)
        y[k * stride] = e
        sum += Double(e)
    }
    let inv = Float(1 / sum)
    for k in 0..<count { y[k * stride] *= inv }
}

/// Softmax of one contiguous row in place (vector exp; sums are accumulated lane-wise in a
/// fixed order, so results are deterministic).
@inline(__always)
func softmaxRowInPlace(_ row: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    let inv = 1 / expShiftedRowInPlace(row, count: count)
    for j in 0..<count { row[j] *= inv }
}

/// Replaces a row by exp(x − max(x)) and returns the sum of the new values (≥ 1 for a
/// non-empty row). Attention normalises its output rows instead of the wide score rows.
@inline(__always)
func expShiftedRowInPlace(_ row: UnsafeMutablePointer<Float>, count: Int) -> Float {
    var m = rowMaximum(row, count: count)
    if m == -.infinity { m = 0 }
    return expShiftedRowInPlace(row, count: count, shift: m)
}

/// The largest of `count` contiguous values (−∞ for none).
///
/// Not inlined: on its own the loop compiles to one `vmaxps` per 8 values, while inlined into a
/// larger kernel the vectorizer splits the lane-wise select into shuffles and blends.
@inline(never)
func rowMaximum(_ row: UnsafePointer<Float>, count: Int) -> Float {
    let raw = UnsafeRawPointer(row)
    var k = 0
    var mv = FloatVector(repeating: -.infinity)
    while k + 8 <= count {
        let v = raw.loadUnaligned(fromByteOffset: k * 4, as: FloatVector.self)
        mv = mv.replacing(with: v, where: v .> mv)
        k += 8
    }
    var m = mv.max()
    while k < count {
        m = Swift.max(m, row[k])
        k += 1
    }
    return m
}

/// Replaces a row by exp(x − shift) and returns the sum of the new values, accumulated
/// lane-wise in a fixed order.
@inline(__always)
func expShiftedRowInPlace(_ row: UnsafeMutablePointer<Float>, count: Int, shift m: Float) -> Float {
    let raw = UnsafeMutableRawPointer(row)
    let shift = FloatVector(repeating: m)
    var lanes = FloatVector(repeating: 0)
    var k = 0
    while k + 8 <= count {
        let e = vectorExp(raw.loadUnaligned(fromByteOffset: k * 4, as: FloatVector.self) - shift)
        raw.storeBytes(of: e, toByteOffset: k * 4, as: FloatVector.self)
        lanes += e
        k += 8
    }
    var sum = lanes.sum()
    if k < count {
        var tail = FloatVector(repeating: -.infinity)
        for j in k..<count { tail[j - k] = row[j] }
        let e = vectorExp(tail - shift)
        for j in k..<count {
            row[j] = e[j - k]
            sum += e[j - k]
        }
    }
    return sum
}

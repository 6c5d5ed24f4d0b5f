// Quantiles along an axis with linear interpolation (torch.quantile, interpolation='linear').

extension Tensor {
    /// The `q`-quantile (0...1) along `axis`: sorted values v, position p = q·(n−1),
    /// result v[⌊p⌋] + (p − ⌊p⌋)·(v[⌈p⌉] − v[⌊p⌋]). Reduces `axis` unless `keepDims`.
    public func quantile(_ q: Float, axis: Int, keepDims: Bool = false) -> Tensor {
        precondition(q >= 0 && q <= 1, "quantile: q \(q) must lie in [0, 1]")
        let a = normalizedAxis(axis, op: "quantile")
        let split = AxisSplit(shape, axis: a)
        precondition(split.length > 0, "quantile: axis \(axis) of \(shape) is empty")
        var outShape = shape
        if keepDims { outShape[a] = 1 } else { outShape.remove(at: a) }
        // Position and weight in Float, as torch computes them for float32 input.
        let position = q * Float(split.length - 1)
        let lo = Swift.min(Int(position), split.length - 1)
        let hi = Swift.min(lo + 1, split.length - 1)
        let weight = position - Float(lo)
        return withUnsafeBufferPointer { src in
            Tensor(shape: outShape) { out in
                let o = out.baseAddress!, x = src.baseAddress!
                parallelFor(split.outer * split.inner) { r in
                    var values = [Float](repeating: 0, count: split.length)
                    for idx in r {
                        let outer = idx / split.inner, inner = idx % split.inner
                        let base = x + outer * split.length * split.inner + inner
                        for k in 0..<split.length { values[k] = base[k * split.inner] }
                        values.sort()
                        let vlo = values[lo], vhi = values[hi]
                        o[idx] = torchLerp(vlo, vhi, weight)
                    }
                }
            }
        }
    }

    /// The `q`-quantile of all elements.
    public func quantile(_ q: Float) -> Float {
        reshaped([-1]).quantile(q, axis: 0).item
    }
}

/// `torch.lerp`'s formula: interpolates from the nearer end for better accuracy.
@inline(__always)
func torchLerp(_ start: Float, _ end: Float, _ weight: Float) -> Float {
    weight < 0.5 ? start + weight * (end - start) : end - (end - start) * (1 - weight)
}

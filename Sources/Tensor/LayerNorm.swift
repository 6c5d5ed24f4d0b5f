// Layer normalisation over the last dimension: x [..., D], weight/bias [D].

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last axis (biased variance, like PyTorch).
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    OpProfile.measure(.normalization) {
        precondition(x.rank >= 1, "layerNorm: input must have at least one dimension, shape is \(x.shape)")
        let d = x.shape[x.rank - 1]
        if let w = weight { precondition(w.shape == [d], "layerNorm: weight shape \(w.shape) does not match last dim of \(x.shape)") }
        if let b = bias { precondition(b.shape == [d], "layerNorm: bias shape \(b.shape) does not match last dim of \(x.shape)") }
        let rows = d == 0 ? 0 : x.count / d
        let w = weight?.scalars, b = bias?.scalars
        return x.withUnsafeBufferPointer { src in
            Tensor(shape: x.shape) { out in
                let o = out.baseAddress!, p = src.baseAddress!
                parallelFor(rows, minimumPerChunk: Swift.max(1, 4096 / Swift.max(d, 1))) { r in
                    for row in r {
                        let xr = p + row * d, yr = o + row * d
                        var sum = 0.0
                        for k in 0..<d { sum += Double(xr[k]) }
                        let mean = sum / Double(d)
                        var sq = 0.0
                        for k in 0..<d {
                            let c = Double(xr[k]) - mean
                            sq += c * c
                        }
                        let inv = Float(1 / (sq / Double(d) + Double(eps)).squareRoot())
                        let m = Float(mean)
                        for k in 0..<d {
                            var v = (xr[k] - m) * inv
                            if let w { v *= w[k] }
                            if let b { v += b[k] }
                            yr[k] = v
                        }
                    }
                }
            }
        }
    }
}

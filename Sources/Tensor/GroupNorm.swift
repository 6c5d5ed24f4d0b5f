import Foundation

// Group normalisation: x [N, C, *spatial], weight/bias [C]; statistics per (n, group).

/// PyTorch `GroupNorm`: channels split into `groups`; each (sample, group) normalised by its own
/// mean and biased variance, then scaled per channel.
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    groupNormKernel(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: false)
}

/// `groupNorm` followed by SiLU in one pass (the common UNet/VAE `norm → nonlinearity` pair).
public func groupNormSiLU(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    groupNormKernel(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: true)
}

private func groupNormKernel(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float, silu: Bool) -> Tensor {
    OpProfile.measure(.normalization) {
        precondition(x.rank >= 2, "groupNorm: input must be [N, C, ...], shape is \(x.shape)")
        let n = x.shape[0], c = x.shape[1]
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels of \(x.shape) not divisible into \(groups) groups")
        if let w = weight { precondition(w.shape == [c], "groupNorm: weight shape \(w.shape) does not match channels of \(x.shape)") }
        if let b = bias { precondition(b.shape == [c], "groupNorm: bias shape \(b.shape) does not match channels of \(x.shape)") }
        let spatial = x.shape[2...].reduce(1, *)
        let perGroup = c / groups
        let groupSize = perGroup * spatial
        let w = weight?.scalars, b = bias?.scalars
        return x.withUnsafeBufferPointer { src in
            Tensor(shape: x.shape) { out in
                let o = out.baseAddress!, p = src.baseAddress!
                parallelFor(n * groups) { r in
                    for ng in r {
                        let g = ng % groups
                        let xg = p + ng * groupSize, yg = o + ng * groupSize
                        var sum = 0.0
                        for k in 0..<groupSize { sum += Double(xg[k]) }
                        let mean = sum / Double(Swift.max(groupSize, 1))
                        var sq = 0.0
                        for k in 0..<groupSize {
                            let d = Double(xg[k]) - mean
                            sq += d * d
                        }
                        let inv = Float(1 / (sq / Double(Swift.max(groupSize, 1)) + Double(eps)).squareRoot())
                        let m = Float(mean)
                        for cl in 0..<perGroup {
                            let ch = g * perGroup + cl
                            let scale = inv * (w?[ch] ?? 1)
                            let shift = (b?[ch] ?? 0) - m * scale
                            let xc = xg + cl * spatial, yc = yg + cl * spatial
                            if silu {
                                let sv = FloatVector(repeating: scale), hv = FloatVector(repeating: shift)
                                vectorMap(xc, yc, count: spatial) { vectorSiLU($0 * sv + hv) }
                            } else {
                                for k in 0..<spatial { yc[k] = xc[k] * scale + shift }
                            }
                        }
                    }
                }
            }
        }
    }
}

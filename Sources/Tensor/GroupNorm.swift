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

/// A GroupNorm reduced to what it does to each channel of each sample, `y = x·scale + shift`
/// (then SiLU when `silu`): the statistics pass over a whole input, kept so the normalised
/// tensor can be made a band of rows at a time (`rows(of:_:)`) and never exist whole.
public struct GroupNormAffine: Sendable {
    /// [N, C] of the input this was measured on.
    public let samples, channels: Int
    /// Whether SiLU follows the normalisation.
    public let silu: Bool
    /// Per (sample, channel), row-major [N, C].
    let scale, shift: [Float]

    /// Measures `x` [N, C, ...]: mean and biased variance per (sample, group), in double
    /// precision like `groupNorm`, folded with the per-channel weight and bias.
    public init(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float, silu: Bool) {
        self.init(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: silu, normalizingInto: nil)
    }

    /// Measures `x`; with `output`, also writes the normalised tensor there, each group right
    /// after its statistics while it is still in cache.
    init(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float, silu: Bool,
         normalizingInto output: UnsafeMutablePointer<Float>?) {
        precondition(x.rank >= 2, "groupNorm: input must be [N, C, ...], shape is \(x.shape)")
        let n = x.shape[0], c = x.shape[1]
        precondition(groups > 0 && c % groups == 0, "groupNorm: \(c) channels of \(x.shape) not divisible into \(groups) groups")
        if let w = weight { precondition(w.shape == [c], "groupNorm: weight shape \(w.shape) does not match channels of \(x.shape)") }
        if let b = bias { precondition(b.shape == [c], "groupNorm: bias shape \(b.shape) does not match channels of \(x.shape)") }
        let spatial = x.shape[2...].reduce(1, *)
        let perGroup = c / groups
        let groupSize = perGroup * spatial
        let w = weight?.scalars, b = bias?.scalars
        var scale = [Float](repeating: 0, count: n * c), shift = [Float](repeating: 0, count: n * c)
        x.withUnsafeBufferPointer { src in
            scale.withUnsafeMutableBufferPointer { scaleOut in
                shift.withUnsafeMutableBufferPointer { shiftOut in
                    let p = src.baseAddress!, sc = scaleOut.baseAddress!, sh = shiftOut.baseAddress!
                    parallelFor(n * groups) { r in
                        for ng in r {
                            let g = ng % groups, sample = ng / groups
                            let xg = p + ng * groupSize
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
                                let s = inv * (w?[ch] ?? 1)
                                let h = (b?[ch] ?? 0) - m * s
                                sc[sample * c + ch] = s
                                sh[sample * c + ch] = h
                                if let output {
                                    let offset = ng * groupSize + cl * spatial
                                    Self.apply(scale: s, shift: h, silu: silu, p + offset, output + offset, count: spatial)
                                }
                            }
                        }
                    }
                }
            }
        }
        samples = n
        channels = c
        self.silu = silu
        self.scale = scale
        self.shift = shift
    }

    /// Normalises `count` elements of channel `channel` of sample `sample` from `x` into `y`
    /// (the same pointer is fine).
    @inline(__always)
    func apply(sample: Int, channel: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Self.apply(scale: scale[sample * channels + channel], shift: shift[sample * channels + channel],
                   silu: silu, x, y, count: count)
    }

    @inline(__always)
    static func apply(scale s: Float, shift h: Float, silu: Bool,
                      _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        if silu {
            let sv = FloatVector(repeating: s), hv = FloatVector(repeating: h)
            vectorMap(x, y, count: count) { vectorSiLU($0 * sv + hv) }
        } else {
            for k in 0..<count { y[k] = x[k] * s + h }
        }
    }

    /// Rows `rows` of the normalised `x` [N, C, H, W]: [N, C, rows.count, W].
    public func rows(of x: Tensor, _ rows: Range<Int>) -> Tensor {
        precondition(x.rank == 4 && x.shape[0] == samples && x.shape[1] == channels,
                     "groupNorm rows: measured on [\(samples), \(channels), ...], applied to \(x.shape)")
        let h = x.shape[2], w = x.shape[3]
        precondition(rows.lowerBound >= 0 && rows.upperBound <= h, "groupNorm rows: \(rows) outside 0..<\(h)")
        return OpProfile.measure(.normalization) {
            x.withUnsafeBufferPointer { src in
                Tensor(shape: [samples, channels, rows.count, w]) { out in
                    let p = src.baseAddress!, o = out.baseAddress!
                    parallelFor(samples * channels) { r in
                        for plane in r {
                            apply(sample: plane / channels, channel: plane % channels,
                                  p + plane * h * w + rows.lowerBound * w, o + plane * rows.count * w, count: rows.count * w)
                        }
                    }
                }
            }
        }
    }
}

private func groupNormKernel(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float, silu: Bool) -> Tensor {
    OpProfile.measure(.normalization) {
        Tensor(shape: x.shape) { out in
            _ = GroupNormAffine(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: silu,
                                normalizingInto: out.baseAddress!)
        }
    }
}

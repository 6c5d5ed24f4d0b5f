// Spatial resampling on the last two axes: x [..., H, W] (usually [N, C, H, W]).

extension Tensor {
    /// Nearest-neighbour upsampling by integer factors (PyTorch `interpolate(mode='nearest')`).
    public func upsampleNearest(scaleH: Int, scaleW: Int) -> Tensor {
        OpProfile.measure(.copy) {
            precondition(rank >= 2, "upsampleNearest: needs [..., H, W], shape is \(shape)")
            precondition(scaleH > 0 && scaleW > 0, "upsampleNearest: scales must be positive, got \(scaleH)x\(scaleW)")
            let h = shape[rank - 2], w = shape[rank - 1]
            let planes = count / Swift.max(h * w, 1)
            let oh = h * scaleH, ow = w * scaleW
            return withUnsafeBufferPointer { src in
                Tensor(shape: Array(shape.dropLast(2)) + [oh, ow]) { out in
                    let o = out.baseAddress!, x = src.baseAddress!
                    parallelFor(planes * h, minimumPerChunk: 16) { r in
                        for ph in r {
                            let p = ph / h, y = ph % h
                            let srow = x + p * h * w + y * w
                            let drow = o + p * oh * ow + y * scaleH * ow
                            for xx in 0..<w {
                                let v = srow[xx]
                                for s in 0..<scaleW { drow[xx * scaleW + s] = v }
                            }
                            for s in 1..<Swift.max(scaleH, 1) { (drow + s * ow).update(from: drow, count: ow) }
                        }
                    }
                }
            }
        }
    }

    /// Nearest-neighbour upsampling by the same factor on both axes.
    public func upsampleNearest(scale: Int) -> Tensor { upsampleNearest(scaleH: scale, scaleW: scale) }

    /// Bilinear resize to `height`×`width` with half-pixel centres (align_corners=False), matching
    /// PyTorch `interpolate(mode='bilinear', antialias=False)` and ONNX Resize linear/half_pixel.
    public func resizeBilinear(height: Int, width: Int) -> Tensor {
        precondition(rank >= 2, "resizeBilinear: needs [..., H, W], shape is \(shape)")
        precondition(height > 0 && width > 0, "resizeBilinear: target size \(height)x\(width) must be positive")
        let h = shape[rank - 2], w = shape[rank - 1]
        precondition(h > 0 && w > 0, "resizeBilinear: input \(shape) has an empty plane")
        let planes = count / (h * w)
        let ys = BilinearTaps(input: h, output: height)
        let xs = BilinearTaps(input: w, output: width)
        return withUnsafeBufferPointer { src in
            Tensor(shape: Array(shape.dropLast(2)) + [height, width]) { out in
                let o = out.baseAddress!, x = src.baseAddress!
                parallelFor(planes * height, minimumPerChunk: 16) { r in
                    for py in r {
                        let p = py / height, oy = py % height
                        let plane = x + p * h * w
                        let r0 = plane + ys.low[oy] * w, r1 = plane + ys.high[oy] * w
                        let wy = ys.weight[oy]
                        let drow = o + p * height * width + oy * width
                        for ox in 0..<width {
                            let x0 = xs.low[ox], x1 = xs.high[ox], wx = xs.weight[ox]
                            let top = (1 - wx) * r0[x0] + wx * r0[x1]
                            let bottom = (1 - wx) * r1[x0] + wx * r1[x1]
                            drow[ox] = (1 - wy) * top + wy * bottom
                        }
                    }
                }
            }
        }
    }
}

/// Source taps for each output coordinate: src = (dst + 0.5)·in/out − 0.5, clamped at 0.
struct BilinearTaps {
    var low: [Int]
    var high: [Int]
    var weight: [Float]

    init(input: Int, output: Int) {
        let scale = Float(input) / Float(output)
        low = []
        high = []
        weight = []
        for o in 0..<output {
            let src = Swift.max((Float(o) + 0.5) * scale - 0.5, 0)
            let l = Swift.min(Int(src), input - 1)
            low.append(l)
            high.append(Swift.min(l + 1, input - 1))
            weight.append(src - Float(l))
        }
    }
}

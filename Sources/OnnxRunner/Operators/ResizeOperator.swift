import Foundation
import Tensor

/// `Resize` (opset ≥ 11) of the two spatial axes of [N, C, H, W]: `nearest` and `linear` modes,
/// by `scales` or `sizes`, with the common coordinate transformation modes.
struct ResizeKernel: OnnxKernel {
    enum Mode: String { case nearest, linear }
    enum Transform: String {
        case halfPixel = "half_pixel", pytorchHalfPixel = "pytorch_half_pixel", asymmetric
        case alignCorners = "align_corners", tfHalfPixelForNN = "tf_half_pixel_for_nn", halfPixelSymmetric = "half_pixel_symmetric"
    }
    enum Rounding: String { case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil }

    let what: String
    let mode: Mode
    let transform: Transform
    let rounding: Rounding

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...4, outputs: 1...1)
        what = ctx.what
        guard ctx.opset >= 11 else { throw ctx.unsupported("Resize before opset 11 is not supported") }
        let m = try ctx.string("mode", default: "nearest")
        guard let mode = Mode(rawValue: m) else { throw ctx.unsupported("mode '\(m)' is not supported (nearest, linear)") }
        let t = try ctx.string("coordinate_transformation_mode", default: "half_pixel")
        guard let transform = Transform(rawValue: t) else { throw ctx.unsupported("coordinate_transformation_mode '\(t)' is not supported") }
        let r = try ctx.string("nearest_mode", default: "round_prefer_floor")
        guard let rounding = Rounding(rawValue: r) else { throw ctx.unsupported("nearest_mode '\(r)' is not supported") }
        if transform == .halfPixelSymmetric { throw ctx.unsupported("coordinate_transformation_mode '\(t)' is not supported") }
        try ctx.requireAbsentOrDefault("antialias", default: 0)
        try ctx.requireAbsentOrDefault("exclude_outside", default: 0)
        if ctx.node.attribute("axes") != nil { throw ctx.unsupported("attribute 'axes' is not supported") }
        let policy = try ctx.string("keep_aspect_ratio_policy", default: "stretch")
        guard policy == "stretch" else { throw ctx.unsupported("keep_aspect_ratio_policy '\(policy)' is not supported") }
        (self.mode, self.transform, self.rounding) = (mode, transform, rounding)
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let x = try inputs.float(0, what)
        guard x.rank == 4 else { throw OnnxError(.invalidInput, "\(what): input must be [N, C, H, W], got \(x.shape)") }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let scales = try inputs.optionalFloat(2, what)
        let sizes = try inputs.optionalInt64(3, what)
        var outH: Int, outW: Int, scaleH: Float, scaleW: Float
        if let sizes, !sizes.scalars.isEmpty {
            let s = try checkedInts(sizes.scalars, what)
            guard s.count == 4, s[0] == n, s[1] == c, s[2] > 0, s[3] > 0 else {
                throw OnnxError(.invalidInput, "\(what): sizes \(s) must keep N and C of \(x.shape)")
            }
            (outH, outW) = (s[2], s[3])
            scaleH = Float(outH) / Float(h)
            scaleW = Float(outW) / Float(w)
        } else if let scales, scales.count > 0 {
            let s = scales.scalars
            guard s.count == 4, s[0] == 1, s[1] == 1, s[2] > 0, s[3] > 0, s[2].isFinite, s[3].isFinite else {
                throw OnnxError(.invalidInput, "\(what): scales \(s) must be [1, 1, sh, sw] with positive sh, sw")
            }
            (scaleH, scaleW) = (s[2], s[3])
            let sizeH = (Float(h) * scaleH).rounded(.down), sizeW = (Float(w) * scaleW).rounded(.down)
            guard sizeH <= Float(1 << 24), sizeW <= Float(1 << 24) else {
                throw OnnxError(.invalidInput, "\(what): scales \(s) give a too large output for \(x.shape)")
            }
            outH = Int(sizeH)
            outW = Int(sizeW)
        } else {
            throw OnnxError(.invalidInput, "\(what): neither scales nor sizes given")
        }
        guard outH > 0, outW > 0 else { throw OnnxError(.invalidInput, "\(what): empty output size \(outH)×\(outW)") }
        _ = try checkedCount([n, c, outH, outW], what)

        let ys = (0..<outH).map { original($0, scale: scaleH, input: h, output: outH) }
        let xs = (0..<outW).map { original($0, scale: scaleW, input: w, output: outW) }
        let out: Tensor
        switch mode {
        case .nearest:
            let iy = ys.map { nearest($0, limit: h) }, ix = xs.map { nearest($0, limit: w) }
            out = x.withUnsafeBufferPointer { src in
                Tensor(shape: [n, c, outH, outW]) { buffer in
                    let s = src.baseAddress!, d = buffer.baseAddress!
                    parallelFor(n * c) { planes in
                        for p in planes {
                            for oy in 0..<outH {
                                let row = s + p * h * w + iy[oy] * w
                                let dst = d + (p * outH + oy) * outW
                                for ox in 0..<outW { dst[ox] = row[ix[ox]] }
                            }
                        }
                    }
                }
            }
        case .linear:
            let ty = ys.map { taps($0, limit: h) }, tx = xs.map { taps($0, limit: w) }
            out = x.withUnsafeBufferPointer { src in
                Tensor(shape: [n, c, outH, outW]) { buffer in
                    let s = src.baseAddress!, d = buffer.baseAddress!
                    parallelFor(n * c) { planes in
                        for p in planes {
                            for oy in 0..<outH {
                                let (y0, y1, fy) = ty[oy]
                                let r0 = s + p * h * w + y0 * w, r1 = s + p * h * w + y1 * w
                                let dst = d + (p * outH + oy) * outW
                                for ox in 0..<outW {
                                    let (x0, x1, fx) = tx[ox]
                                    let top = r0[x0] + (r0[x1] - r0[x0]) * fx
                                    let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx
                                    dst[ox] = top + (bottom - top) * fy
                                }
                            }
                        }
                    }
                }
            }
        }
        return [.float(out)]
    }

    /// Input coordinate of output index `i` on one axis.
    private func original(_ i: Int, scale: Float, input: Int, output: Int) -> Float {
        let x = Float(i)
        switch transform {
        case .halfPixel, .halfPixelSymmetric: return (x + 0.5) / scale - 0.5
        case .pytorchHalfPixel: return output > 1 ? (x + 0.5) / scale - 0.5 : 0
        case .asymmetric: return x / scale
        case .alignCorners: return output == 1 ? 0 : x * Float(input - 1) / Float(output - 1)
        case .tfHalfPixelForNN: return (x + 0.5) / scale
        }
    }

    private func nearest(_ x: Float, limit: Int) -> Int {
        let r: Float
        switch rounding {
        case .floor: r = x.rounded(.down)
        case .ceil: r = x.rounded(.up)
        case .roundPreferFloor: r = x - x.rounded(.down) == 0.5 ? x.rounded(.down) : x.rounded()
        case .roundPreferCeil: r = x.rounded(.toNearestOrAwayFromZero)
        }
        return Int(min(max(r, 0), Float(limit - 1)))
    }

    /// Two neighbouring input indices and the weight of the second one, clamped to the edges.
    private func taps(_ x: Float, limit: Int) -> (Int, Int, Float) {
        let clamped = min(max(x, 0), Float(limit - 1))
        let i0 = Int(clamped.rounded(.down))
        let i1 = min(i0 + 1, limit - 1)
        return (i0, i1, clamped - Float(i0))
    }
}

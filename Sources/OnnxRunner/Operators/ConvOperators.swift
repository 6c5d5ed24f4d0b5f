import Tensor

// Spatial operators on [N, C, H, W]: convolution, max pooling and resizing.

/// Padding policy shared by `Conv` and `MaxPool`.
enum AutoPad: String {
    case notSet = "NOTSET", valid = "VALID", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER"

    init(_ ctx: NodeContext) throws(OnnxError) {
        let raw = try ctx.string("auto_pad", default: "NOTSET")
        guard let value = AutoPad(rawValue: raw) else { throw ctx.unsupported("auto_pad '\(raw)' is not supported") }
        self = value
    }

    /// Begin and end padding of one spatial axis.
    func pads(input: Int, kernel: Int, stride: Int, dilation: Int, explicit: (Int, Int)) -> (Int, Int) {
        switch self {
        case .notSet: return explicit
        case .valid: return (0, 0)
        case .sameUpper, .sameLower:
            let out = (input + stride - 1) / stride
            let total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - input)
            return self == .sameUpper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
        }
    }
}

/// 2-D geometry of a sliding window, resolved for one input size.
struct Window2D {
    var kernel: (h: Int, w: Int)
    var stride: (h: Int, w: Int)
    var dilation: (h: Int, w: Int)
    var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    var outH: Int, outW: Int
}

/// Attributes common to `Conv` and `MaxPool`, checked at load.
struct WindowAttributes: Sendable {
    let kernelShape: [Int]?
    let strides: [Int]
    let dilations: [Int]
    let pads: [Int]
    let autoPadRaw: String

    init(_ ctx: NodeContext) throws(OnnxError) {
        kernelShape = try ctx.ints("kernel_shape")
        strides = try ctx.ints("strides") ?? [1, 1]
        dilations = try ctx.ints("dilations") ?? [1, 1]
        pads = try ctx.ints("pads") ?? [0, 0, 0, 0]
        autoPadRaw = try AutoPad(ctx).rawValue
        if let k = kernelShape, k.count != 2 || k.contains(where: { $0 < 1 }) {
            throw ctx.unsupported("kernel_shape \(k): only 2-D windows are supported")
        }
        guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }) else { throw ctx.unsupported("strides \(strides) (need two values ≥ 1)") }
        guard dilations.count == 2, dilations.allSatisfy({ $0 >= 1 }) else { throw ctx.unsupported("dilations \(dilations) (need two values ≥ 1)") }
        guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else { throw ctx.unsupported("pads \(pads) (need four values ≥ 0)") }
    }

    func resolve(height: Int, width: Int, kernel: (Int, Int), ceilMode: Bool, what: String) throws(OnnxError) -> Window2D {
        let autoPad = AutoPad(rawValue: autoPadRaw) ?? .notSet
        let (pt, pb) = autoPad.pads(input: height, kernel: kernel.0, stride: strides[0], dilation: dilations[0], explicit: (pads[0], pads[2]))
        let (pl, pr) = autoPad.pads(input: width, kernel: kernel.1, stride: strides[1], dilation: dilations[1], explicit: (pads[1], pads[3]))
        func outSize(_ input: Int, _ k: Int, _ s: Int, _ d: Int, _ p0: Int, _ p1: Int) -> Int {
            let span = input + p0 + p1 - ((k - 1) * d + 1)
            guard span >= 0 else { return 0 }
            var out = (ceilMode ? (span + s - 1) / s : span / s) + 1
            if ceilMode && (out - 1) * s >= input + p0 { out -= 1 }
            return out
        }
        let oh = outSize(height, kernel.0, strides[0], dilations[0], pt, pb)
        let ow = outSize(width, kernel.1, strides[1], dilations[1], pl, pr)
        guard oh > 0, ow > 0 else {
            throw OnnxError(.invalidInput, "\(what): input \(height)×\(width) is too small for kernel \(kernel.0)×\(kernel.1)")
        }
        return Window2D(kernel: kernel, stride: (strides[0], strides[1]), dilation: (dilations[0], dilations[1]),
                        padTop: pt, padLeft: pl, padBottom: pb, padRight: pr, outH: oh, outW: ow)
    }
}

/// `Conv` (2-D, groups, strides, dilations, pads) as im2col + GEMM per group.
struct ConvKernel: OnnxKernel {
    let what: String
    let window: WindowAttributes
    let group: Int

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 2...3, outputs: 1...1)
        what = ctx.what
        window = try WindowAttributes(ctx)
        group = try ctx.int("group", default: 1)
        guard group >= 1 else { throw ctx.unsupported("group \(group)") }
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let x = try inputs.float(0, what), w = try inputs.float(1, what)
        let bias = try inputs.optionalFloat(2, what)
        guard x.rank == 4, w.rank == 4 else { throw OnnxError(.invalidInput, "\(what): only 2-D convolution, got input \(x.shape) and weight \(w.shape)") }
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        guard c == cg * group, o % group == 0 else {
            throw OnnxError(.invalidInput, "\(what): input channels \(c) and weight \(w.shape) do not fit group \(group)")
        }
        if let k = window.kernelShape, k != [kh, kw] {
            throw OnnxError(.invalidInput, "\(what): kernel_shape \(k) differs from weight \(w.shape)")
        }
        if let bias, bias.shape != [o] { throw OnnxError(.invalidInput, "\(what): bias \(bias.shape) for \(o) output channels") }
        let g = try window.resolve(height: h, width: wd, kernel: (kh, kw), ceilMode: false, what: what)
        _ = try checkedCount([n, o, g.outH, g.outW], what)
        _ = try checkedCount([cg * kh * kw, g.outH * g.outW], what)
        return [.float(conv2d(x, w, bias: bias, geometry: g, group: group))]
    }
}

/// Convolution of x [N, C, H, W] with w [O, C/group, kh, kw] → [N, O, outH, outW].
func conv2d(_ x: Tensor, _ w: Tensor, bias: Tensor?, geometry g: Window2D, group: Int) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let og = o / group
    let k = cg * kh * kw
    let l = g.outH * g.outW
    let pointwise = kh == 1 && kw == 1 && g.stride == (1, 1) && g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0
    let weights = w.reshaped([o, k])
    let groupWeights: [Tensor] = group == 1 ? [weights] : (0..<group).map { gi in
        weights.withUnsafeBufferPointer { Tensor(shape: [og, k], scalars: Array($0[(gi * og * k)..<((gi + 1) * og * k)])) }
    }
    var output = [Float](repeating: 0, count: n * o * l)
    x.withUnsafeBufferPointer { src in
        for b in 0..<n {
            for gi in 0..<group {
                let channelBase = (b * c + gi * cg) * h * wd
                let cols: Tensor
                if pointwise {
                    cols = Tensor(shape: [k, l], scalars: Array(src[channelBase..<(channelBase + cg * h * wd)]))
                } else {
                    cols = Tensor(shape: [k, l]) { buffer in
                        let dst = buffer.baseAddress!
                        let s = src.baseAddress! + channelBase
                        parallelFor(k, minimumPerChunk: 8) { rows in
                            for row in rows {
                                let ci = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw
                                let plane = s + ci * h * wd
                                let out = dst + row * l
                                for oy in 0..<g.outH {
                                    let iy = oy * g.stride.h - g.padTop + ki * g.dilation.h
                                    let line = out + oy * g.outW
                                    if iy < 0 || iy >= h {
                                        line.update(repeating: 0, count: g.outW)
                                        continue
                                    }
                                    let rowPtr = plane + iy * wd
                                    let x0 = kj * g.dilation.w - g.padLeft
                                    for ox in 0..<g.outW {
                                        let ix = x0 + ox * g.stride.w
                                        line[ox] = (ix >= 0 && ix < wd) ? rowPtr[ix] : 0
                                    }
                                }
                            }
                        }
                    }
                }
                let y = matmul(groupWeights[gi], cols)  // [og, l]
                y.withUnsafeBufferPointer { yp in
                    output.withUnsafeMutableBufferPointer { op in
                        let dst = op.baseAddress! + (b * o + gi * og) * l
                        dst.update(from: yp.baseAddress!, count: og * l)
                    }
                }
            }
        }
    }
    if let bias {
        let bv = bias.scalars
        output.withUnsafeMutableBufferPointer { op in
            let base = op.baseAddress!
            parallelFor(n * o, minimumPerChunk: 4) { planes in
                for p in planes {
                    let v = bv[p % o]
                    let dst = base + p * l
                    for i in 0..<l { dst[i] += v }
                }
            }
        }
    }
    return Tensor(shape: [n, o, g.outH, g.outW], scalars: output)
}

/// `MaxPool` (2-D; `ceil_mode`; one output; row-major storage order only).
struct MaxPoolKernel: OnnxKernel {
    let what: String
    let window: WindowAttributes
    let kernel: (Int, Int)
    let ceilMode: Bool

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
        window = try WindowAttributes(ctx)
        guard let k = window.kernelShape else { throw ctx.unsupported("kernel_shape is required") }
        kernel = (k[0], k[1])
        ceilMode = try ctx.int("ceil_mode", default: 0) != 0
        try ctx.requireAbsentOrDefault("storage_order", default: 0)
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let x = try inputs.float(0, what)
        guard x.rank == 4 else { throw OnnxError(.invalidInput, "\(what): input must be [N, C, H, W], got \(x.shape)") }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let g = try window.resolve(height: h, width: w, kernel: kernel, ceilMode: ceilMode, what: what)
        let out = x.withUnsafeBufferPointer { src in
            Tensor(shape: [n, c, g.outH, g.outW]) { buffer in
                let dst = buffer.baseAddress!
                let s = src.baseAddress!
                parallelFor(n * c, minimumPerChunk: 1) { planes in
                    for p in planes {
                        let plane = s + p * h * w
                        let o = dst + p * g.outH * g.outW
                        for oy in 0..<g.outH {
                            for ox in 0..<g.outW {
                                var m = -Float.infinity
                                for ki in 0..<g.kernel.h {
                                    let iy = oy * g.stride.h - g.padTop + ki * g.dilation.h
                                    if iy < 0 || iy >= h { continue }
                                    for kj in 0..<g.kernel.w {
                                        let ix = ox * g.stride.w - g.padLeft + kj * g.dilation.w
                                        if ix < 0 || ix >= w { continue }
                                        let v = plane[iy * w + ix]
                                        if v > m || v.isNaN { m = v }
                                    }
                                }
                                o[oy * g.outW + ox] = m
                            }
                        }
                    }
                }
            }
        }
        return [.float(out)]
    }
}

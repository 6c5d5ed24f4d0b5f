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

/// `Conv` (2-D, groups, strides, dilations, pads) on the Tensor im2col + GEMM kernel.
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
        // Shapes were checked above, so the Tensor kernel's preconditions hold.
        let options = Conv2DOptions(
            strideH: g.stride.h, strideW: g.stride.w,
            padding: Padding2D(top: g.padTop, bottom: g.padBottom, left: g.padLeft, right: g.padRight),
            dilationH: g.dilation.h, dilationW: g.dilation.w, groups: group)
        return [.float(conv2d(x, weight: w, bias: bias, options: options))]
    }
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

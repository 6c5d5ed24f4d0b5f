// 2-D convolution, NCHW: x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] → [N, O, Ho, Wo].
// im2col + GEMM per (sample, group); 1x1 stride-1 unpadded convolutions skip im2col, and large
// enough 3x3 stride-1 convolutions use Winograd's F(2x2, 3x3) (Winograd.swift).

/// Zero padding on each side of the two spatial axes.
public struct Padding2D: Sendable, Hashable {
    public var top: Int
    public var bottom: Int
    public var left: Int
    public var right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top
        self.bottom = bottom
        self.left = left
        self.right = right
    }

    /// The same padding on all four sides.
    public init(_ all: Int) { self.init(top: all, bottom: all, left: all, right: all) }

    /// `vertical` above and below, `horizontal` left and right.
    public init(vertical: Int, horizontal: Int) {
        self.init(top: vertical, bottom: vertical, left: horizontal, right: horizontal)
    }

    public static let zero = Padding2D(0)
}

/// Stride, padding, dilation and groups of a 2-D convolution. Default: all 1, no padding.
public struct Conv2DOptions: Sendable, Hashable {
    public var strideH: Int
    public var strideW: Int
    public var padding: Padding2D
    public var dilationH: Int
    public var dilationW: Int
    public var groups: Int

    public init(strideH: Int = 1, strideW: Int = 1, padding: Padding2D = .zero, dilationH: Int = 1, dilationW: Int = 1, groups: Int = 1) {
        self.strideH = strideH
        self.strideW = strideW
        self.padding = padding
        self.dilationH = dilationH
        self.dilationW = dilationW
        self.groups = groups
    }
}

/// Convolution with square stride/padding/dilation (PyTorch `Conv2d` with int arguments).
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil,
    stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1
) -> Tensor {
    conv2d(x, weight: weight, bias: bias, options: Conv2DOptions(
        strideH: stride, strideW: stride, padding: Padding2D(padding),
        dilationH: dilation, dilationW: dilation, groups: groups))
}

/// Convolution with per-axis stride/dilation and per-side padding (ONNX `Conv`).
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, options: Conv2DOptions) -> Tensor {
    let shape = conv2dOutputShape(input: x.shape, weight: weight.shape, options: options)
    return Tensor(shape: shape) { out in
        conv2d(x, weight: weight, bias: bias, options: options, into: out.baseAddress!, planeStride: shape[2] * shape[3])
    }
}

/// [N, O, Ho, Wo] of a convolution, checking the input, weight and options agree.
func conv2dOutputShape(input: [Int], weight: [Int], options o: Conv2DOptions) -> [Int] {
    precondition(input.count == 4, "conv2d: input must be [N, C, H, W], got \(input)")
    precondition(weight.count == 4, "conv2d: weight must be [O, C/groups, kh, kw], got \(weight)")
    let (n, c, h, w) = (input[0], input[1], input[2], input[3])
    let (oc, cg, kh, kw) = (weight[0], weight[1], weight[2], weight[3])
    let g = o.groups
    precondition(g > 0 && c % g == 0 && oc % g == 0, "conv2d: groups \(g) must divide input channels of \(input) and output channels of \(weight)")
    precondition(cg == c / g, "conv2d: weight \(weight) expects \(cg * g) input channels, input is \(input) with groups \(g)")
    precondition(o.strideH > 0 && o.strideW > 0 && o.dilationH > 0 && o.dilationW > 0, "conv2d: stride and dilation must be positive, got \(o)")
    let p = o.padding
    precondition(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0, "conv2d: negative padding \(p)")
    let effH = o.dilationH * (kh - 1) + 1, effW = o.dilationW * (kw - 1) + 1
    precondition(h + p.top + p.bottom >= effH && w + p.left + p.right >= effW, "conv2d: kernel \(weight) larger than padded input \(input)")
    return [n, oc, (h + p.top + p.bottom - effH) / o.strideH + 1, (w + p.left + p.right - effW) / o.strideW + 1]
}

/// The convolution written into `y`: output plane (sample, channel) k starts at
/// `y + k·planeStride` and holds Ho·Wo floats (`planeStride` ≥ Ho·Wo lets a band of output rows
/// land inside a taller output).
func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, options: Conv2DOptions,
            into y: UnsafeMutablePointer<Float>, planeStride: Int, winogradWeights: WinogradWeightCache? = nil) {
    OpProfile.measure(.convolution) {
        let o = options
        let shape = conv2dOutputShape(input: x.shape, weight: weight.shape, options: o)
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oc, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let (ho, wo) = (shape[2], shape[3])
        let g = o.groups, p = o.padding
        precondition(planeStride >= ho * wo, "conv2d: output plane stride \(planeStride) below \(ho)x\(wo)")
        if let bias { precondition(bias.shape == [oc], "conv2d: bias \(bias.shape) does not match weight \(weight.shape)") }
        let og = oc / g
        let kdim = cg * kh * kw
        let plane = ho * wo
        if winogradApplies(kernelH: kh, kernelW: kw, options: o, inputChannels: c, outputChannels: oc,
                           tiles: n * ((ho + 1) / 2) * ((wo + 1) / 2)) {
            x.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    if let cache = winogradWeights, cache.transformed == nil {
                        cache.transformed = winogradTransformedWeights(pw.baseAddress!, outputChannels: oc, channels: c)
                    }
                    let transformed = winogradWeights?.transformed
                    let run = { (bias: UnsafePointer<Float>?) in
                        winogradConv3x3(
                            input: px.baseAddress!, batch: n, channels: c, height: h, width: w,
                            weight: pw.baseAddress!, outputChannels: oc, bias: bias,
                            padTop: p.top, padLeft: p.left, outHeight: ho, outWidth: wo, output: y,
                            outputPlaneStride: planeStride, transformedWeights: transformed)
                    }
                    if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                }
            }
            return
        }
        let direct = kh == 1 && kw == 1 && o.strideH == 1 && o.strideW == 1 && p == .zero
        let geometry = Im2ColGeometry(
            channels: cg, height: h, width: w, kh: kh, kw: kw, outH: ho, outW: wo,
            strideH: o.strideH, strideW: o.strideW, padTop: p.top, padLeft: p.left,
            dilationH: o.dilationH, dilationW: o.dilationW)
        // Output rows unrolled at a time: all of them unless the column buffer would pass
        // `im2colBudget` floats (a 512×512 VAE layer would need over a gigabyte).
        let rowsPerChunk = direct ? ho : Swift.max(1, Swift.min(ho, im2colBudget / Swift.max(1, kdim * wo)))
        // im2col writes every element, so the column buffer needs no zero fill.
        let columnCount = direct ? 0 : kdim * rowsPerChunk * wo
        var columns = [Float](unsafeUninitializedCapacity: columnCount) { _, n in n = columnCount }
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                var beta: Float = 0
                if let bias {
                    bias.withUnsafeBufferPointer { pb in
                        parallelFor(n * oc, minimumPerChunk: Swift.max(1, 16_384 / Swift.max(plane, 1))) { r in
                            for sc in r {
                                (y + sc * planeStride).update(repeating: pb[sc % oc], count: plane)
                            }
                        }
                    }
                    beta = 1
                }
                columns.withUnsafeMutableBufferPointer { colBuf in
                    for s in 0..<n {
                        for gi in 0..<g {
                            let input = px.baseAddress! + (s * c + gi * cg) * h * w
                            var firstRow = 0
                            while firstRow < ho {
                                let rows = Swift.min(rowsPerChunk, ho - firstRow)
                                let cols: UnsafePointer<Float>
                                if direct {
                                    cols = input
                                } else {
                                    im2col(input, into: colBuf.baseAddress!, geometry, rows: firstRow..<(firstRow + rows))
                                    cols = UnsafePointer(colBuf.baseAddress!)
                                }
                                sgemm(
                                    transA: false, transB: false, m: og, n: rows * wo, k: kdim,
                                    a: pw.baseAddress! + gi * og * kdim, lda: kdim,
                                    b: cols, ldb: rows * wo,
                                    beta: beta, c: y + (s * oc + gi * og) * planeStride + firstRow * wo, ldc: planeStride)
                                firstRow += rows
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Winograd's transformed weights of one layer, made by its first Winograd convolution and
/// reused by the next ones on the same weights (the row bands of `conv2dInRowBands`).
final class WinogradWeightCache {
    var transformed: [Float]?
}

/// Floats of im2col's column buffer above which a convolution unrolls its output rows in
/// chunks (4 M floats, 16 MB).
let im2colBudget = 4 << 20

/// Sizes for unrolling one group's input [C, H, W] into columns [C·kh·kw, Ho·Wo].
struct Im2ColGeometry {
    let channels, height, width, kh, kw, outH, outW: Int
    let strideH, strideW, padTop, padLeft, dilationH, dilationW: Int
}

/// Writes row (c, i, j) of the column matrix for the output rows `rows`:
/// input[c, oh·sh − pt + i·dh, ow·sw − pl + j·dw] for oh in `rows`, 0 outside; the matrix is
/// [C·kh·kw, rows.count·Wo].
func im2col(_ input: UnsafePointer<Float>, into cols: UnsafeMutablePointer<Float>, _ gm: Im2ColGeometry, rows outRows: Range<Int>) {
    let rows = gm.channels * gm.kh * gm.kw
    let plane = outRows.count * gm.outW
    parallelFor(rows, minimumPerChunk: Swift.max(1, 16384 / Swift.max(plane, 1))) { r in
        for row in r {
            let c = row / (gm.kh * gm.kw)
            let i = (row / gm.kw) % gm.kh
            let j = row % gm.kw
            let src = input + c * gm.height * gm.width
            let dst = cols + row * plane
            let dx = j * gm.dilationW - gm.padLeft
            // Output columns whose input column lies inside [0, width).
            let owStart = dx >= 0 ? 0 : Swift.min(gm.outW, (-dx + gm.strideW - 1) / gm.strideW)
            let owEnd = Swift.max(owStart, Swift.min(gm.outW, (gm.width - 1 - dx) >= 0 ? (gm.width - 1 - dx) / gm.strideW + 1 : 0))
            for oh in outRows {
                let ih = oh * gm.strideH - gm.padTop + i * gm.dilationH
                let d = dst + (oh - outRows.lowerBound) * gm.outW
                if ih < 0 || ih >= gm.height {
                    d.update(repeating: 0, count: gm.outW)
                    continue
                }
                let srow = src + ih * gm.width
                if owStart > 0 { d.update(repeating: 0, count: owStart) }
                if gm.strideW == 1 {
                    (d + owStart).update(from: srow + owStart + dx, count: owEnd - owStart)
                } else {
                    for ow in owStart..<owEnd { d[ow] = srow[ow * gm.strideW + dx] }
                }
                if owEnd < gm.outW { (d + owEnd).update(repeating: 0, count: gm.outW - owEnd) }
            }
        }
    }
}

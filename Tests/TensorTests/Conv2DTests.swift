import Testing
@testable import Tensor

/// Direct six-loop convolution, the definition.
private func naiveConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ o: Conv2DOptions) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oc, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let p = o.padding
    let ho = (h + p.top + p.bottom - o.dilationH * (kh - 1) - 1) / o.strideH + 1
    let wo = (wd + p.left + p.right - o.dilationW * (kw - 1) - 1) / o.strideW + 1
    let og = oc / o.groups
    let xs = x.scalars, ws = w.scalars, bs = b?.scalars
    var y = [Float](repeating: 0, count: n * oc * ho * wo)
    for s in 0..<n {
        for co in 0..<oc {
            let g = co / og
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var acc: Double = Double(bs?[co] ?? 0)
                    for ci in 0..<cg {
                        let cin = g * cg + ci
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let iy = oy * o.strideH - p.top + i * o.dilationH
                                let ix = ox * o.strideW - p.left + j * o.dilationW
                                if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                                acc += Double(xs[((s * c + cin) * h + iy) * wd + ix]) * Double(ws[((co * cg + ci) * kh + i) * kw + j])
                            }
                        }
                    }
                    y[((s * oc + co) * ho + oy) * wo + ox] = Float(acc)
                }
            }
        }
    }
    return Tensor(shape: [n, oc, ho, wo], scalars: y)
}

@Suite struct Conv2DTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var x: [Int]
        var w: [Int]
        var options: Conv2DOptions
        var bias = true
        var testDescription: String { "x\(x) w\(w) \(options)" }
    }

    static let cases: [Case] = [
        Case(x: [1, 1, 1, 1], w: [1, 1, 1, 1], options: .init()),
        Case(x: [2, 3, 7, 5], w: [4, 3, 3, 3], options: .init(padding: Padding2D(1))),
        Case(x: [1, 4, 11, 13], w: [6, 2, 3, 3], options: .init(strideH: 2, strideW: 2, padding: Padding2D(1), groups: 2)),
        Case(x: [1, 6, 9, 8], w: [6, 1, 3, 3], options: .init(padding: Padding2D(1), groups: 6)),
        Case(x: [2, 5, 8, 7], w: [3, 5, 1, 1], options: .init()),
        Case(x: [1, 5, 8, 7], w: [3, 5, 1, 1], options: .init(strideH: 2, strideW: 2), bias: false),
        Case(x: [1, 3, 10, 9], w: [2, 3, 3, 2], options: .init(strideH: 1, strideW: 3, padding: Padding2D(top: 2, bottom: 0, left: 1, right: 3), dilationH: 2, dilationW: 1)),
        Case(x: [1, 2, 4, 4], w: [3, 2, 5, 5], options: .init(padding: Padding2D(2))),
        Case(x: [1, 3, 2, 3], w: [2, 3, 4, 4], options: .init(strideH: 3, strideW: 3, padding: Padding2D(3)), bias: false),
    ]

    @Test(arguments: cases)
    func matchesNaive(_ c: Case) {
        let x = randomTensor(c.x, seed: 11), w = randomTensor(c.w, seed: 12)
        let b = c.bias ? randomTensor([c.w[0]], seed: 13) : nil
        expectClose(conv2d(x, weight: w, bias: b, options: c.options), naiveConv2d(x, w, b, c.options), tolerance: 1e-5)
    }

    /// Shapes that take Winograd's F(2×2, 3×3): odd sizes (partial tiles), asymmetric padding,
    /// no padding, with and without bias; against the definition in double precision.
    static let winogradCases: [Case] = [
        Case(x: [2, 32, 33, 31], w: [40, 32, 3, 3], options: .init(padding: Padding2D(1))),
        Case(x: [2, 48, 32, 32], w: [32, 48, 3, 3], options: .init(padding: Padding2D(1)), bias: false),
        Case(x: [1, 32, 47, 50], w: [33, 32, 3, 3], options: .init(padding: Padding2D(top: 0, bottom: 2, left: 1, right: 0))),
        Case(x: [3, 32, 30, 29], w: [32, 32, 3, 3], options: .init()),
    ]

    @Test(arguments: winogradCases)
    func winogradMatchesNaive(_ c: Case) {
        let ho = c.x[2] + c.options.padding.top + c.options.padding.bottom - 2
        let wo = c.x[3] + c.options.padding.left + c.options.padding.right - 2
        #expect(winogradApplies(kernelH: 3, kernelW: 3, options: c.options, inputChannels: c.x[1], outputChannels: c.w[0],
                                tiles: c.x[0] * ((ho + 1) / 2) * ((wo + 1) / 2)), "the case must take the Winograd path")
        let x = randomTensor(c.x, seed: 21), w = randomTensor(c.w, seed: 22)
        let b = c.bias ? randomTensor([c.w[0]], seed: 23) : nil
        expectClose(conv2d(x, weight: w, bias: b, options: c.options), naiveConv2d(x, w, b, c.options), tolerance: 1e-5)
    }

    /// Convolutions large enough to run in chunks: Winograd over several tile chunks (a chunk
    /// boundary inside a sample, a short last chunk) and im2col over several output-row chunks,
    /// strided and not; against the definition in double precision.
    static let chunkedCases: [Case] = [
        Case(x: [3, 256, 27, 26], w: [256, 256, 3, 3], options: .init(padding: Padding2D(1))),
        Case(x: [1, 64, 130, 130], w: [3, 64, 3, 3], options: .init(padding: Padding2D(1))),
        Case(x: [1, 64, 261, 259], w: [4, 64, 3, 3], options: .init(strideH: 2, strideW: 2, padding: Padding2D(1)), bias: false),
    ]

    @Test(arguments: chunkedCases)
    func chunkedConvolutionsMatchNaive(_ c: Case) {
        let ho = (c.x[2] + c.options.padding.top + c.options.padding.bottom - 3) / c.options.strideH + 1
        let wo = (c.x[3] + c.options.padding.left + c.options.padding.right - 3) / c.options.strideW + 1
        let tiles = c.x[0] * ((ho + 1) / 2) * ((wo + 1) / 2)
        if winogradApplies(kernelH: 3, kernelW: 3, options: c.options, inputChannels: c.x[1], outputChannels: c.w[0], tiles: tiles) {
            #expect(WinogradF2x3.tileChunk(channels: c.x[1], outputChannels: c.w[0], tiles: tiles) < tiles, "several tile chunks")
        } else {
            #expect(c.x[1] * 9 * wo * ho > im2colBudget, "several row chunks")
        }
        let x = randomTensor(c.x, seed: 31), w = randomTensor(c.w, seed: 32)
        let b = c.bias ? randomTensor([c.w[0]], seed: 33) : nil
        expectClose(conv2d(x, weight: w, bias: b, options: c.options), naiveConv2d(x, w, b, c.options), tolerance: 1e-5)
    }

    /// Small convolutions, strided ones, grouped ones and 1×1 ones keep im2col.
    @Test func winogradTakesOnlyLarge3x3StrideOneConvolutions() {
        let same = Conv2DOptions(padding: Padding2D(1))
        #expect(winogradApplies(kernelH: 3, kernelW: 3, options: same, inputChannels: 320, outputChannels: 320, tiles: 2048))
        #expect(!winogradApplies(kernelH: 3, kernelW: 3, options: same, inputChannels: 1280, outputChannels: 1280, tiles: 128))
        // The UNet's 32×32 level at batch 1 (256 tiles) takes Winograd; its 16×16 level at batch 2 does not.
        #expect(winogradApplies(kernelH: 3, kernelW: 3, options: same, inputChannels: 640, outputChannels: 640, tiles: 256))
        #expect(!winogradApplies(kernelH: 3, kernelW: 3, options: same, inputChannels: 640, outputChannels: 640, tiles: 255))
        #expect(!winogradApplies(kernelH: 3, kernelW: 3, options: same, inputChannels: 4, outputChannels: 320, tiles: 2048))
        #expect(!winogradApplies(kernelH: 3, kernelW: 3, options: .init(strideH: 2, strideW: 2, padding: Padding2D(1)),
                                 inputChannels: 320, outputChannels: 320, tiles: 2048))
        #expect(!winogradApplies(kernelH: 1, kernelW: 1, options: .init(), inputChannels: 320, outputChannels: 320, tiles: 2048))
        #expect(!winogradApplies(kernelH: 3, kernelW: 3, options: .init(padding: Padding2D(1), groups: 2),
                                 inputChannels: 320, outputChannels: 320, tiles: 2048))
    }

    @Test func squareConvenienceMatchesOptions() {
        let x = randomTensor([1, 4, 9, 9], seed: 14), w = randomTensor([2, 2, 3, 3], seed: 15)
        let a = conv2d(x, weight: w, stride: 2, padding: 1, dilation: 2, groups: 2)
        let b = naiveConv2d(x, w, nil, Conv2DOptions(strideH: 2, strideW: 2, padding: Padding2D(1), dilationH: 2, dilationW: 2, groups: 2))
        expectClose(a, b, tolerance: 1e-5)
    }

    /// PyTorch fixtures; tolerance 1e-5 relative to max(1, max|y|).
    @Test(arguments: ["conv_grouped_stride2", "conv_3x3", "conv_dilated_asym", "conv_1x1"])
    func matchesTorch(_ name: String) {
        let x = KernelFixtures.tensor(name, "x"), w = KernelFixtures.tensor(name, "weight")
        let b: Tensor? = KernelFixtures.shared.cases[name]?["bias"]?.tensor
        let options: Conv2DOptions
        switch name {
        case "conv_grouped_stride2": options = .init(strideH: 2, strideW: 2, padding: Padding2D(1), groups: 2)
        case "conv_3x3": options = .init(padding: Padding2D(1))
        case "conv_dilated_asym": options = .init(strideH: 1, strideW: 2, padding: Padding2D(top: 1, bottom: 3, left: 2, right: 0), dilationH: 2, dilationW: 1)
        default: options = .init()
        }
        expectClose(conv2d(x, weight: w, bias: b, options: options), KernelFixtures.tensor(name, "y"), tolerance: 1e-5, name)
    }
}

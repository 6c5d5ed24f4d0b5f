// A convolution over an input that is never held whole: the input is produced a band of rows
// at a time (the rows the next band of output rows reads, kernel overlap included) by a
// row-local function such as a GroupNorm with measured statistics or a nearest-neighbour
// upsampling. A 512×512 VAE layer's normalised or upsampled input (134–268 MB) then costs one
// band (about 16 MB) instead.

/// Input floats per band that `conv2dInRowBands` aims for: 4 M floats (16 MB).
public let rowBandInputBudget = 4 << 20

/// Output rows per band for an input [n, c, ·, w] so a band's input stays near `budget`
/// floats: at least 2 and even, so Winograd's 2×2 output tiles fall where they fall in the
/// whole convolution.
public func rowBandHeight(samples n: Int, channels c: Int, width w: Int, budget: Int = rowBandInputBudget) -> Int {
    let rows = budget / Swift.max(1, n * c * w)
    return Swift.max(2, rows / 2 * 2)
}

/// `conv2d(input, weight, bias, options)` where `input` [N, C, H, W] (`inputShape`) is made by
/// `rows(r)` one band at a time: `rows(r)` returns input rows `r` ([N, C, r.count, W]). Output
/// rows go `outputRowsPerBand` at a time; each band is convolved with the padding it needs at
/// the image edges, straight into its rows of the output. Equal to the whole convolution (the same
/// arithmetic per output element). Groups are not supported.
public func conv2dInRowBands(
    inputShape: [Int], weight: Tensor, bias: Tensor? = nil, options o: Conv2DOptions,
    outputRowsPerBand: Int, rows produce: (Range<Int>) -> Tensor
) -> Tensor {
    precondition(o.groups == 1, "conv2dInRowBands: groups are not supported, got \(o.groups)")
    precondition(outputRowsPerBand > 0, "conv2dInRowBands: output rows per band must be positive, got \(outputRowsPerBand)")
    let outputShape = conv2dOutputShape(input: inputShape, weight: weight.shape, options: o)
    let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
    let (oc, ho, wo) = (outputShape[1], outputShape[2], outputShape[3])
    let p = o.padding
    let effH = o.dilationH * (weight.shape[2] - 1) + 1
    let winogradWeights = WinogradWeightCache()
    return Tensor(shape: outputShape) { out in
        let y = out.baseAddress!
        var first = 0
        while first < ho {
            let end = Swift.min(ho, first + outputRowsPerBand)
            // Padded-input rows the band reads, then the part of them inside the image.
            let paddedStart = first * o.strideH - p.top, paddedEnd = (end - 1) * o.strideH - p.top + effH
            let start = Swift.max(0, paddedStart), stop = Swift.min(h, paddedEnd)
            precondition(start < stop, "conv2dInRowBands: output rows \(first)..<\(end) read only padding")
            let band = produce(start..<stop)
            precondition(band.shape == [n, c, stop - start, w],
                         "conv2dInRowBands: rows \(start)..<\(stop) came as \(band.shape), expected \([n, c, stop - start, w])")
            var bandOptions = o
            bandOptions.padding = Padding2D(top: start - paddedStart, bottom: paddedEnd - stop, left: p.left, right: p.right)
            // The band's output rows land in place: planes keep the whole output's stride.
            precondition(conv2dOutputShape(input: band.shape, weight: weight.shape, options: bandOptions) == [n, oc, end - first, wo],
                         "conv2dInRowBands: band rows \(start)..<\(stop) do not make output rows \(first)..<\(end)")
            conv2d(band, weight: weight, bias: bias, options: bandOptions, into: y + first * wo, planeStride: ho * wo,
                   winogradWeights: winogradWeights)
            first = end
        }
    }
}

/// `conv2dInRowBands` with a weight held in either precision: a half-precision weight is
/// widened once for all bands.
public func conv2dInRowBands(
    inputShape: [Int], weight: WeightTensor, bias: Tensor? = nil, options: Conv2DOptions,
    outputRowsPerBand: Int, rows produce: (Range<Int>) -> Tensor
) -> Tensor {
    conv2dInRowBands(inputShape: inputShape, weight: weight.float32(), bias: bias, options: options,
                     outputRowsPerBand: outputRowsPerBand, rows: produce)
}

extension Tensor {
    /// Rows `rows` of `upsampleNearest(scale:)` of this [N, C, H, W] tensor without making the
    /// rest: [N, C, rows.count, scale·W].
    public func upsampledNearestRows(scale: Int, _ rows: Range<Int>) -> Tensor {
        precondition(rank == 4, "upsampledNearestRows: needs [N, C, H, W], shape is \(shape)")
        precondition(scale > 0, "upsampledNearestRows: scale must be positive, got \(scale)")
        let h = shape[2], w = shape[3], ow = w * scale
        precondition(rows.lowerBound >= 0 && rows.upperBound <= h * scale, "upsampledNearestRows: \(rows) outside 0..<\(h * scale)")
        let planes = shape[0] * shape[1]
        return OpProfile.measure(.copy) {
            withUnsafeBufferPointer { src in
                Tensor(shape: [shape[0], shape[1], rows.count, ow]) { out in
                    let o = out.baseAddress!, x = src.baseAddress!
                    parallelFor(planes, minimumPerChunk: 4) { r in
                        for plane in r {
                            for (i, row) in rows.enumerated() {
                                let srow = x + plane * h * w + (row / scale) * w
                                let drow = o + (plane * rows.count + i) * ow
                                for xx in 0..<w {
                                    let v = srow[xx]
                                    for s in 0..<scale { drow[xx * scale + s] = v }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds `other` (the same shape) into this tensor's own storage, without a new buffer when
    /// the storage is not shared.
    public mutating func addInPlace(_ other: Tensor) {
        precondition(shape == other.shape, "addInPlace: shapes \(shape) and \(other.shape) differ")
        OpProfile.measure(.elementwise) {
            other.withUnsafeBufferPointer { b in
                withUnsafeMutableBufferPointer { a in
                    let pa = a.baseAddress!, pb = b.baseAddress!
                    parallelFor(a.count / 8 + 1, minimumPerChunk: 2048) { r in
                        let start = r.lowerBound * 8, end = Swift.min(r.upperBound * 8, a.count)
                        for i in start..<Swift.max(start, end) { pa[i] += pb[i] }
                    }
                }
            }
        }
    }
}

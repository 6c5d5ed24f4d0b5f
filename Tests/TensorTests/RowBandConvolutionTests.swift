import Testing
@testable import Tensor
import TestSupport

/// A convolution whose input comes in row bands equals the convolution of the whole input.
@Suite struct RowBandConvolutionTests {
    struct Case: Sendable, CustomStringConvertible {
        let input: [Int], outputChannels, kernel, stride: Int
        let padding: Padding2D
        let rowsPerBand: Int
        var description: String { "\(input) k\(kernel) s\(stride) \(padding) bands of \(rowsPerBand)" }
    }

    static let cases: [Case] = [
        Case(input: [2, 3, 11, 7], outputChannels: 4, kernel: 3, stride: 1, padding: Padding2D(1), rowsPerBand: 2),
        Case(input: [1, 5, 9, 9], outputChannels: 3, kernel: 3, stride: 1, padding: Padding2D(1), rowsPerBand: 3),
        Case(input: [1, 4, 12, 10], outputChannels: 6, kernel: 3, stride: 2, padding: Padding2D(top: 0, bottom: 1, left: 0, right: 1), rowsPerBand: 2),
        Case(input: [2, 6, 8, 5], outputChannels: 2, kernel: 1, stride: 1, padding: .zero, rowsPerBand: 3),
        Case(input: [1, 2, 10, 6], outputChannels: 2, kernel: 5, stride: 1, padding: Padding2D(2), rowsPerBand: 4),
        Case(input: [1, 3, 7, 7], outputChannels: 2, kernel: 3, stride: 1, padding: Padding2D(1), rowsPerBand: 100),
    ]

    @Test(arguments: cases)
    func bandsEqualTheWholeConvolution(_ c: Case) {
        let x = randomTensor(c.input, seed: 7, scale: 2)
        let weight = randomTensor([c.outputChannels, c.input[1], c.kernel, c.kernel], seed: 8)
        let bias = randomTensor([c.outputChannels], seed: 9)
        let options = Conv2DOptions(strideH: c.stride, strideW: c.stride, padding: c.padding)
        let whole = conv2d(x, weight: weight, bias: bias, options: options)
        var requested: [Range<Int>] = []
        let banded = conv2dInRowBands(inputShape: x.shape, weight: weight, bias: bias, options: options,
                                      outputRowsPerBand: c.rowsPerBand) { rows in
            requested.append(rows)
            return x.narrowed(axis: 2, start: rows.lowerBound, length: rows.count)
        }
        #expect(banded.shape == whole.shape)
        #expect(maxAbsDifference(banded, whole) <= 1e-5 * Swift.max(1, maxAbs(whole)))
        // Bands cover the input in order and never ask for rows outside it.
        #expect(requested.first?.lowerBound == 0)
        #expect(requested.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= c.input[2] && !$0.isEmpty })
        let outputRows = whole.shape[2]
        #expect(requested.count == (outputRows + c.rowsPerBand - 1) / c.rowsPerBand)
    }

    /// At the VAE's sizes the bands take the Winograd path like the whole convolution, with
    /// tiles where the whole convolution has them and the weights transformed once for all
    /// bands (two bands of 260 tiles, then an im2col band of 120).
    @Test func winogradBandsAgreeWithTheWholeConvolution() {
        let x = randomTensor([1, 32, 64, 40], seed: 11)
        let weight = randomTensor([32, 32, 3, 3], seed: 12, scale: 0.2)
        let options = Conv2DOptions(padding: Padding2D(1))
        #expect(winogradApplies(kernelH: 3, kernelW: 3, options: options, inputChannels: 32, outputChannels: 32, tiles: 26 * 20))
        let whole = conv2d(x, weight: weight, options: options)
        #expect(winogradApplies(kernelH: 3, kernelW: 3, options: options, inputChannels: 32, outputChannels: 32, tiles: 13 * 20))
        let banded = conv2dInRowBands(inputShape: x.shape, weight: weight, options: options, outputRowsPerBand: 26) {
            x.narrowed(axis: 2, start: $0.lowerBound, length: $0.count)
        }
        #expect(maxAbsDifference(banded, whole) <= 1e-6 * Swift.max(1, maxAbs(whole)))
    }

    @Test func bandHeightIsEvenAndFollowsTheBudget() {
        #expect(rowBandHeight(samples: 1, channels: 256, width: 512) == 32)
        #expect(rowBandHeight(samples: 1, channels: 128, width: 512) == 64)
        #expect(rowBandHeight(samples: 1, channels: 100, width: 100, budget: 1_500) == 2)
        #expect(rowBandHeight(samples: 1, channels: 3, width: 10, budget: 150) == 4)
    }

    @Test func groupNormRowsEqualTheWholeNormalization() {
        let x = randomTensor([2, 6, 9, 5], seed: 21, scale: 3) - 0.5
        let w = randomTensor([6], seed: 22), b = randomTensor([6], seed: 23)
        for silu in [false, true] {
            let affine = GroupNormAffine(x, groups: 3, weight: w, bias: b, eps: 1e-6, silu: silu)
            let whole = silu ? groupNormSiLU(x, groups: 3, weight: w, bias: b, eps: 1e-6)
                : groupNorm(x, groups: 3, weight: w, bias: b, eps: 1e-6)
            for rows in [0..<9, 0..<1, 3..<7, 8..<9] {
                #expect(affine.rows(of: x, rows).scalars == whole.narrowed(axis: 2, start: rows.lowerBound, length: rows.count).scalars, "rows \(rows), silu \(silu)")
            }
        }
    }

    @Test func upsampledRowsEqualTheWholeUpsampling() {
        let x = randomTensor([2, 3, 4, 5], seed: 31)
        let whole = x.upsampleNearest(scale: 2)
        for rows in [0..<8, 1..<2, 3..<6, 7..<8] {
            #expect(x.upsampledNearestRows(scale: 2, rows).scalars == whole.narrowed(axis: 2, start: rows.lowerBound, length: rows.count).scalars, "rows \(rows)")
        }
    }

    @Test func addInPlaceAddsAndLeavesSharedStorageAlone() {
        let a = randomTensor([3, 17], seed: 41), b = randomTensor([3, 17], seed: 42)
        var sum = a
        sum.addInPlace(b)
        #expect(sum.scalars == (a + b).scalars)
        #expect(a.scalars != sum.scalars, "the copy shared storage with a and must not have written into it")
    }
}

import Foundation
import Testing
import Tensor
@testable import Diffusion
import TestSupport

/// The shared layers checked against naive reference loops written out here.
@Suite struct LayersTests {
    /// PyTorch's nearest rule written directly: source index = floor(dest · in / out).
    private func naiveNearest(_ x: Tensor, height: Int, width: Int) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var out = Tensor.zeros([n, c, height, width])
        for b in 0..<n { for ch in 0..<c { for i in 0..<height { for j in 0..<width {
            let si = min(Int(Float(i) * (Float(h) / Float(height))), h - 1)
            let sj = min(Int(Float(j) * (Float(w) / Float(width))), w - 1)
            out[b, ch, i, j] = x[b, ch, si, sj]
        } } } }
        return out
    }

    @Test(arguments: [(3, 5, 6, 10), (5, 7, 9, 13), (1, 1, 2, 2), (4, 3, 7, 5)])
    func nearestUpsampleMatchesNaiveRule(h: Int, w: Int, height: Int, width: Int) {
        let x = SyntheticWeights.tensor(seed: 5, stream: UInt64(h * 100 + w), shape: [2, 3, h, w], mean: 0, halfWidth: 1)
        let fast = resizeNearest(x, height: height, width: width)
        #expect(fast.shape == [2, 3, height, width])
        #expect(fast.scalars == naiveNearest(x, height: height, width: width).scalars)
    }

    @Test func upsampleLayerDoublesOrFollowsTheGivenSize() {
        let p = ParameterReader(randomSeed: 9)
        let up = Upsample2D(p, "up.", channels: 2)
        let x = SyntheticWeights.tensor(seed: 2, stream: 3, shape: [1, 2, 3, 4], mean: 0, halfWidth: 1)
        let doubled = up(x)
        #expect(doubled.shape == [1, 2, 6, 8])
        let viaResize = up.conv(resizeNearest(x, height: 6, width: 8))
        #expect(maxAbsDifference(doubled, viaResize) < 1e-6)
        #expect(up(x, size: (5, 7)).shape == [1, 2, 5, 7])
    }

    /// Row bands (forced here on tiny inputs) leave a resnet block's result as it was, with and
    /// without a channel change and a time embedding, and the upsampler's too.
    @Test(arguments: [(4, 4, false), (4, 6, true), (6, 4, false)])
    func rowBandsChangeNoResult(inChannels: Int, outChannels: Int, timeEmbedding: Bool) {
        let p = ParameterReader(randomSeed: 12)
        let block = ResnetBlock2D(p, "block.", inChannels: inChannels, outChannels: outChannels,
                                  timeEmbeddingChannels: timeEmbedding ? 5 : nil, groups: 2, eps: 1e-6)
        let x = SyntheticWeights.tensor(seed: 6, stream: 1, shape: [2, inChannels, 9, 7], mean: 0.2, halfWidth: 1.5)
        let t = timeEmbedding ? SyntheticWeights.tensor(seed: 6, stream: 2, shape: [2, 5], mean: 0, halfWidth: 1) : nil
        let whole = block(x, timeEmbedding: t)
        let banded = RowBands.$thresholdFloats.withValue(0) {
            RowBands.$bandFloats.withValue(1) { block(x, timeEmbedding: t) }
        }
        #expect(banded.shape == [2, outChannels, 9, 7])
        #expect(maxAbsDifference(banded, whole) <= 1e-5 * max(1, maxAbs(whole)))

        let up = Upsample2D(p, "up.", channels: inChannels)
        let upWhole = up.conv(x.upsampleNearest(scale: 2))
        let upBanded = RowBands.$thresholdFloats.withValue(0) { RowBands.$bandFloats.withValue(1) { up(x) } }
        #expect(maxAbsDifference(upBanded, upWhole) <= 1e-5 * max(1, maxAbs(upWhole)))
    }

    @Test func timestepEmbeddingMatchesFormula() {
        // diffusers get_timestep_embedding, evaluated in Double for reference.
        let dim = 9, half = 4
        for (flip, shift) in [(true, Float(0)), (false, Float(1))] {
            let emb = sinusoidalTimestepEmbedding([0, 37, 981.5], dim: dim, flipSinToCos: flip, freqShift: shift)
            #expect(emb.shape == [3, dim])
            for (b, t) in [0.0, 37.0, 981.5].enumerated() {
                for i in 0..<half {
                    let freq = Foundation.exp(-Foundation.log(10000.0) * Double(i) / (Double(half) - Double(shift)))
                    let s = Foundation.sin(t * freq), c = Foundation.cos(t * freq)
                    let (first, second) = flip ? (c, s) : (s, c)
                    #expect(abs(Double(emb[b, i]) - first) < 1e-3)
                    #expect(abs(Double(emb[b, half + i]) - second) < 1e-3)
                }
                #expect(emb[b, dim - 1] == 0)  // odd width: zero padded
            }
        }
    }

    @Test func attentionMatchesNaiveSoftmaxLoop() {
        let p = ParameterReader(randomSeed: 11)
        let (dim, heads, headDim, ctxDim) = (6, 2, 3, 5)
        let attention = Attention(p, "attn2.", queryDim: dim, contextDim: ctxDim, heads: heads, headDim: headDim)
        let x = SyntheticWeights.tensor(seed: 1, stream: 1, shape: [2, 4, dim], mean: 0, halfWidth: 1)
        let ctx = SyntheticWeights.tensor(seed: 1, stream: 2, shape: [2, 3, ctxDim], mean: 0, halfWidth: 1)
        let got = attention(x, context: ctx)

        func project(_ t: Tensor, _ l: Linear) -> [[[Double]]] {
            (0..<t.shape[0]).map { b in (0..<t.shape[1]).map { i in (0..<l.weight.shape[0]).map { o in
                var s = Double(l.bias.map { $0[o] } ?? 0)
                for k in 0..<t.shape[2] { s += Double(t[b, i, k]) * Double(l.weight.float32()[o, k]) }
                return s
            } } }
        }
        let q = project(x, attention.toQ), k = project(ctx, attention.toK), v = project(ctx, attention.toV)
        for b in 0..<2 {
            for i in 0..<4 {
                var merged = [Double](repeating: 0, count: heads * headDim)
                for h in 0..<heads {
                    let r = h * headDim..<(h + 1) * headDim
                    let scores = (0..<3).map { j in r.reduce(0.0) { $0 + q[b][i][$1] * k[b][j][$1] } / Double(headDim).squareRoot() }
                    let m = scores.max()!
                    let e = scores.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for d in r { merged[d] = (0..<3).reduce(0.0) { $0 + e[$1] / z * v[b][$1][d] } }
                }
                for o in 0..<dim {
                    var s = Double(attention.toOut.bias![o])
                    for d in 0..<(heads * headDim) { s += merged[d] * Double(attention.toOut.weight.float32()[o, d]) }
                    #expect(abs(Double(got[b, i, o]) - s) < 1e-5)
                }
            }
        }
    }

    @Test func randomWeightsAreSeededByName() {
        let a = ParameterReader(randomSeed: 3), b = ParameterReader(randomSeed: 3), c = ParameterReader(randomSeed: 4)
        let wa = a("x.weight", [4, 5]), wb = b("x.weight", [4, 5]), wc = c("x.weight", [4, 5])
        #expect(wa.scalars == wb.scalars)
        #expect(wa.scalars != wc.scalars)
        #expect(wa.scalars != a("y.weight", [4, 5]).scalars)
        #expect(wa.scalars.allSatisfy { abs($0) <= 1 / Float(5).squareRoot() })
        #expect(a("block.norm1.weight", [3]).scalars == [1, 1, 1])
        #expect(a.parameters.count == 3)
    }

    @Test func readerReportsAllThreeOutcomes() {
        let p = ParameterReader(["a.weight": Tensor.zeros([2, 2]), "b.weight": Tensor.zeros([3]), "c.bias": Tensor.zeros([1])],
                                origin: "demo.safetensors")
        _ = p("a.weight", [2, 2])
        _ = p("b.weight", [4])
        _ = p("d.weight", [1])
        let error = #expect(throws: DiffusionError.self) { try p.finish() }
        #expect(error?.message == "demo.safetensors: missing 1: d.weight; wrong shape 1: b.weight is [3], expected [4]; unknown 1: c.bias")
    }
}

import Foundation
import Testing
@testable import Tensor
import TestSupport

/// Naive attention over [B, L, d] slices with an optional additive [Lq, Lk] mask.
private func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: [Float]?, causal: Bool, scale: Float?) -> Tensor {
    let r = q.rank
    let lq = q.shape[r - 2], d = q.shape[r - 1], lk = k.shape[r - 2], dv = v.shape[r - 1]
    let batches = q.count / (lq * d)
    let s = Double(scale ?? 1 / Float(d).squareRoot())
    let qs = q.scalars, ks = k.scalars, vs = v.scalars
    var out = [Float](repeating: 0, count: batches * lq * dv)
    for b in 0..<batches {
        for i in 0..<lq {
            var scores = [Double](repeating: 0, count: lk)
            for j in 0..<lk {
                var dot = 0.0
                for p in 0..<d { dot += Double(qs[(b * lq + i) * d + p]) * Double(ks[(b * lk + j) * d + p]) }
                scores[j] = dot * s + Double(mask?[i * lk + j] ?? 0)
                if causal && j > i { scores[j] = -.infinity }
            }
            let m = scores.max()!
            let e = scores.map { Foundation.exp($0 - m) }
            let z = e.reduce(0, +)
            for c in 0..<dv {
                var acc = 0.0
                for j in 0..<lk { acc += e[j] / z * Double(vs[(b * lk + j) * dv + c]) }
                out[(b * lq + i) * dv + c] = Float(acc)
            }
        }
    }
    return Tensor(shape: Array(q.shape.dropLast()) + [dv], scalars: out)
}

@Suite struct AttentionTests {
    @Test(arguments: [[1, 1, 1, 1, 1], [2, 3, 7, 11, 5], [1, 2, 13, 13, 8], [3, 1, 1, 4, 3]])
    func matchesNaive(_ dims: [Int]) {
        let (b, h, lq, lk, d) = (dims[0], dims[1], dims[2], dims[3], dims[4])
        let q = randomTensor([b, h, lq, d], seed: 21, scale: 2)
        let k = randomTensor([b, h, lk, d], seed: 22, scale: 2)
        let v = randomTensor([b, h, lk, d + 1], seed: 23)
        let y = scaledDotProductAttention(query: q, key: k, value: v)
        expectClose(y, naiveAttention(q, k, v, mask: nil, causal: false, scale: nil), tolerance: 1e-5, "plain")
        let mask = randomTensor([lq, lk], seed: 24, scale: 3)
        let ym = scaledDotProductAttention(query: q, key: k, value: v, mask: mask, scale: 0.7)
        expectClose(ym, naiveAttention(q, k, v, mask: mask.scalars, causal: false, scale: 0.7), tolerance: 1e-5, "masked")
    }

    @Test func causalMatchesNaive() {
        let q = randomTensor([2, 2, 9, 4], seed: 25), k = randomTensor([2, 2, 9, 4], seed: 26), v = randomTensor([2, 2, 9, 4], seed: 27)
        let y = scaledDotProductAttention(query: q, key: k, value: v, causal: true)
        expectClose(y, naiveAttention(q, k, v, mask: nil, causal: true, scale: nil), tolerance: 1e-5)
    }

    @Test func longSequencesUseSeveralQueryBlocks() {
        // Lk large enough that the query block is smaller than Lq.
        let q = randomTensor([1, 1, 300, 3], seed: 28), k = randomTensor([1, 1, 9000, 3], seed: 29), v = randomTensor([1, 1, 9000, 2], seed: 30)
        let y = scaledDotProductAttention(query: q, key: k, value: v)
        expectClose(y, naiveAttention(q, k, v, mask: nil, causal: false, scale: nil), tolerance: 1e-5)
    }

    /// PyTorch `scaled_dot_product_attention`; tolerance 1e-5 relative to max(1, max|y|).
    @Test func matchesTorch() {
        let q = KernelFixtures.tensor("attention", "q"), k = KernelFixtures.tensor("attention", "k"), v = KernelFixtures.tensor("attention", "v")
        let mask = KernelFixtures.tensor("attention", "mask")
        expectClose(scaledDotProductAttention(query: q, key: k, value: v), KernelFixtures.tensor("attention", "y"), tolerance: 1e-5, "plain")
        expectClose(scaledDotProductAttention(query: q, key: k, value: v, mask: mask), KernelFixtures.tensor("attention", "y_mask"), tolerance: 1e-5, "mask")
        expectClose(scaledDotProductAttention(query: q, key: k, value: v, scale: 0.3), KernelFixtures.tensor("attention", "y_scale"), tolerance: 1e-5, "scale")
        let cq = KernelFixtures.tensor("attention_causal", "q"), ck = KernelFixtures.tensor("attention_causal", "k"), cv = KernelFixtures.tensor("attention_causal", "v")
        expectClose(scaledDotProductAttention(query: cq, key: ck, value: cv, causal: true), KernelFixtures.tensor("attention_causal", "y"), tolerance: 1e-5, "causal")
    }

    /// The fused (online-softmax) kernel against the naive Double computation at Stable
    /// Diffusion 1.5's head sizes, with cross-attention's 77 keys (one key block) and 4096 keys
    /// (many key blocks, so the running maximum and earlier partial outputs are rescaled).
    /// 70 queries span two query blocks; keys of a wide range make later blocks raise the maximum.
    @Test(arguments: [40, 80, 160])
    func fusedKernelMatchesNaive(headSize d: Int) {
        for (lk, lq) in [(77, 70), (4096, 9)] {
            let q = randomTensor([1, 2, lq, d], seed: 40 + UInt64(d), scale: 2)
            let k = randomTensor([1, 2, lk, d], seed: 41 + UInt64(d), scale: 2)
            let v = randomTensor([1, 2, lk, d], seed: 42 + UInt64(d))
            let fused = scaledDotProductAttention(query: q, key: k, value: v)
            let naive = naiveAttention(q, k, v, mask: nil, causal: false, scale: nil)
            let diff = maxAbsDifference(fused, naive)
            #expect(diff <= 1e-5, "d \(d), Lk \(lk): max |fused − naive| = \(diff)")
        }
    }

    /// The register-tiled kernels (head and value sizes that are multiples of 8) on ragged
    /// shapes, with packed heads read in place: query counts that leave a partial 6-row tile and
    /// a second query block, key counts that leave a partial 16-key panel or span several key
    /// blocks, and value sizes that need the 8-wide tile beside the 16-wide one.
    @Test(arguments: [[8, 24, 7, 77], [16, 8, 100, 1100], [40, 40, 97, 33], [24, 40, 13, 600], [8, 16, 1, 1]])
    func tiledKernelMatchesNaive(_ dims: [Int]) {
        let (d, dv, lq, lk) = (dims[0], dims[1], dims[2], dims[3])
        #expect(AttentionTiles.supports(headSize: d, valueSize: dv))
        let (b, heads) = (2, 3)
        let q = randomTensor([b, lq, heads * d], seed: 60, scale: 2)
        let k = randomTensor([b, lk, heads * d], seed: 61, scale: 2)
        let v = randomTensor([b, lk, heads * dv], seed: 62)
        func split(_ x: Tensor, _ width: Int) -> Tensor {
            x.reshaped([b, x.shape[1], heads, width]).permuted([0, 2, 1, 3])
        }
        let naive = naiveAttention(split(q, d), split(k, d), split(v, dv), mask: nil, causal: false, scale: nil)
            .permuted([0, 2, 1, 3]).reshaped([b, lq, heads * dv])
        let tiled = multiHeadAttention(query: q, key: k, value: v, heads: heads)
        let diff = maxAbsDifference(tiled, naive)
        #expect(diff <= 1e-5, "d \(d), dv \(dv), Lq \(lq), Lk \(lk): max |tiled − naive| = \(diff)")
    }

    /// Packed heads ([B, L, heads·d]) give what splitting heads, attending and merging gives.
    @Test func multiHeadMatchesSplitHeads() {
        let (b, heads, d, lq, lk) = (2, 3, 8, 70, 300)
        let q = randomTensor([b, lq, heads * d], seed: 50, scale: 2)
        let k = randomTensor([b, lk, heads * d], seed: 51, scale: 2)
        let v = randomTensor([b, lk, heads * (d + 2)], seed: 52)
        func split(_ x: Tensor, _ width: Int) -> Tensor { x.reshaped([b, x.shape[1], heads, width]).permuted([0, 2, 1, 3]) }
        let expected = scaledDotProductAttention(query: split(q, d), key: split(k, d), value: split(v, d + 2))
            .permuted([0, 2, 1, 3]).reshaped([b, lq, heads * (d + 2)])
        let packed = multiHeadAttention(query: q, key: k, value: v, heads: heads)
        #expect(packed.shape == [b, lq, heads * (d + 2)])
        #expect(maxAbsDifference(packed, expected) <= 1e-6)
    }
}

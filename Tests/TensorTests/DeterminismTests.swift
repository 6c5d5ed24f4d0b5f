import Testing
@testable import Tensor

/// Same inputs must give bit-identical results, at any thread count.
@Suite(.serialized) struct DeterminismTests {
    private func pipeline(_ x: Tensor, _ w: Tensor, _ q: Tensor) -> [Float] {
        let c = conv2d(x, weight: w, padding: 1)
        let g = groupNormSiLU(c, groups: 4, weight: nil, bias: nil)
        let a = scaledDotProductAttention(query: q, key: q, value: q)
        return g.scalars + a.scalars + layerNorm(q, weight: nil, bias: nil).scalars + g.sum(axis: 1).scalars
            + g.softmax(axis: 2).scalars + g.quantile(0.9, axis: 3).scalars
    }

    @Test func repeatedRunsAreBitIdentical() {
        let x = randomTensor([2, 8, 33, 29], seed: 161), w = randomTensor([16, 8, 3, 3], seed: 162)
        let q = randomTensor([2, 4, 77, 16], seed: 163)
        let first = pipeline(x, w, q)
        let second = pipeline(x, w, q)
        #expect(first == second)
    }

    @Test func ourKernelsDoNotDependOnThreadCount() {
        // Non-BLAS kernels give each output to one work item, so the split does not matter.
        let x = randomTensor([2, 8, 33, 29], seed: 164)
        let saved = TensorThreads.count
        TensorThreads.setCount(1)
        let one = groupNorm(x, groups: 2, weight: nil, bias: nil).scalars + x.softmax(axis: 3).scalars + x.mean(axis: 1).scalars
        TensorThreads.setCount(2)
        let two = groupNorm(x, groups: 2, weight: nil, bias: nil).scalars + x.softmax(axis: 3).scalars + x.mean(axis: 1).scalars
        TensorThreads.setCount(saved)
        #expect(one == two)
    }

    @Test func fusedAttentionDoesNotDependOnThreadCount() {
        // Each (batch, head, query block) is one work item with a fixed key-block order.
        let q = randomTensor([2, 70, 80], seed: 165), k = randomTensor([2, 600, 80], seed: 166)
        let v = randomTensor([2, 600, 80], seed: 167)
        let saved = TensorThreads.count
        TensorThreads.setCount(1)
        let one = multiHeadAttention(query: q, key: k, value: v, heads: 2).scalars
        TensorThreads.setCount(2)
        let two = multiHeadAttention(query: q, key: k, value: v, heads: 2).scalars
        TensorThreads.setCount(saved)
        #expect(one == two)
    }

    /// Runs `body` at 1, 2, 3 and 4 threads and returns the distinct results.
    private func distinctResultsAcrossThreadCounts(_ body: () -> [Float]) -> Int {
        let saved = TensorThreads.count
        defer { TensorThreads.setCount(saved) }
        var results: [[Float]] = []
        for threads in 1...4 {
            TensorThreads.setCount(threads)
            let result = body()
            if !results.contains(result) { results.append(result) }
        }
        return results.count
    }

    @Test(arguments: [(154, 320, 320), (4096, 320, 320), (77, 64, 64), (4096, 40, 77), (256, 2880, 320), (33, 1000, 600), (2, 1280, 320)])
    func blasProductsDoNotDependOnThreadCount(m: Int, n: Int, k: Int) {
        // OpenBLAS's own threading rounds differently at 1 and 2 threads for all but the first
        // and last of these shapes; the panel split must not.
        let a = randomTensor([m, k], seed: 168), w = randomTensor([n, k], seed: 169), b = randomTensor([k, n], seed: 170)
        let bias = randomTensor([n], seed: 171)
        #expect(distinctResultsAcrossThreadCounts { linear(a, weight: w, bias: bias).scalars } == 1)
        #expect(distinctResultsAcrossThreadCounts { matmul(a, b).scalars } == 1)
        #expect(distinctResultsAcrossThreadCounts { matmul(a.transposed(0, 1), b, transposeA: true).scalars } == 1)
        #expect(distinctResultsAcrossThreadCounts { matmul(a, w, transposeB: true).scalars } == 1)
    }

    @Test(arguments: [(32, 32, 8), (64, 64, 32), (320, 320, 32), (3, 8, 64)])
    func convolutionsDoNotDependOnThreadCount(channels: Int, outputs: Int, size: Int) {
        let x = randomTensor([2, channels, size, size], seed: 172)
        let w3 = randomTensor([outputs, channels, 3, 3], seed: 173), w1 = randomTensor([outputs, channels, 1, 1], seed: 174)
        #expect(distinctResultsAcrossThreadCounts { conv2d(x, weight: w3, padding: 1).scalars } == 1)
        #expect(distinctResultsAcrossThreadCounts { conv2d(x, weight: w1).scalars } == 1)
    }

    @Test func splitProductsMatchOneBLASCall() throws {
        // The panels against one unsplit call, and against a plain double-precision product.
        let (m, n, k) = (300, 200, 150)
        let a = randomTensor([m, k], seed: 175), b = randomTensor([k, n], seed: 176)
        let saved = TensorThreads.count
        TensorThreads.setCount(1)
        let whole = matmul(a, b).scalars
        TensorThreads.setCount(3)
        let split = matmul(a, b).scalars
        TensorThreads.setCount(saved)
        #expect(whole == split)
        let (pa, pb) = (a.scalars, b.scalars)
        var worst = 0.0
        for i in stride(from: 0, to: m, by: 7) {
            for j in stride(from: 0, to: n, by: 5) {
                var sum = 0.0
                for t in 0..<k { sum += Double(pa[i * k + t]) * Double(pb[t * n + j]) }
                worst = max(worst, abs(sum - Double(split[i * n + j])))
            }
        }
        #expect(worst < 1e-4)
    }
}

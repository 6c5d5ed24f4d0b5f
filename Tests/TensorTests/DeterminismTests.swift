import Testing
@testable import Tensor

/// Same inputs and thread count must give bit-identical results.
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
}

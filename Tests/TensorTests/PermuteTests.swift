import Testing
@testable import Tensor

@Suite struct PermuteTests {
    @Test(arguments: [[0, 1, 2, 3], [0, 2, 1, 3], [3, 2, 1, 0], [0, 2, 3, 1], [1, 0, 3, 2]])
    func matchesNaive(_ order: [Int]) {
        let shape = [2, 3, 1, 5]
        let x = randomTensor(shape, seed: 101)
        let y = x.permuted(order)
        #expect(y.shape == order.map { shape[$0] })
        for a in 0..<2 { for b in 0..<3 { for d in 0..<5 {
            let src = [a, b, 0, d]
            let dst = order.map { src[$0] }
            #expect(y[dst[0], dst[1], dst[2], dst[3]] == x[a, b, 0, d])
        } } }
    }

    @Test func transposeForms() {
        let m = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(m.t.scalars == [1, 4, 2, 5, 3, 6])
        #expect(m.transposed(0, 1).shape == [3, 2])
        let x = randomTensor([2, 4, 3, 5], seed: 102)
        #expect(x.transposed(1, 2).transposed(1, 2).scalars == x.scalars)
        #expect(x.transposed(-1, -3).shape == [2, 5, 3, 4])
    }

    /// Shapes that take the tiled batched-transpose path, checked against the general definition.
    @Test(arguments: [([2, 37, 5, 13], [0, 2, 3, 1]), ([2, 5, 13, 37], [0, 3, 1, 2]), ([70, 33], [1, 0]),
                      ([3, 1, 40, 7], [0, 3, 1, 2]), ([4, 6, 35, 2], [2, 3, 0, 1])])
    func tiledTransposeMatchesNaive(shape: [Int], order: [Int]) {
        #expect(Tensor.batchedTransposeShape(shape, order) != nil)
        let x = randomTensor(shape, seed: 103)
        let y = x.permuted(order)
        let outShape = order.map { shape[$0] }
        #expect(y.shape == outShape)
        let inStrides = Tensor.strides(for: shape)
        let xs = x.scalars, ys = y.scalars
        var mismatches = 0
        for flat in 0..<ys.count {
            var rest = flat, src = 0
            for axis in stride(from: outShape.count - 1, through: 0, by: -1) {
                src += (rest % outShape[axis]) * inStrides[order[axis]]
                rest /= outShape[axis]
            }
            if ys[flat] != xs[src] { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
}

import Foundation
import Testing
@testable import Tensor

@Suite struct SoftmaxTests {
    @Test(arguments: [([1], 0), ([3, 7], 1), ([3, 7], 0), ([2, 5, 4], 1), ([2, 5, 4], -1)])
    func matchesNaive(shape: [Int], axis: Int) {
        let x = randomTensor(shape, seed: 51, scale: 10)
        let a = axis < 0 ? axis + shape.count : axis
        let outer = shape[..<a].reduce(1, *), len = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        let xs = x.scalars
        var y = xs
        for o in 0..<outer {
            for i in 0..<inner {
                let idx = (0..<len).map { (o * len + $0) * inner + i }
                let m = idx.map { Double(xs[$0]) }.max()!
                let z = idx.map { Foundation.exp(Double(xs[$0]) - m) }.reduce(0, +)
                for j in idx { y[j] = Float(Foundation.exp(Double(xs[j]) - m) / z) }
            }
        }
        expectClose(x.softmax(axis: axis), Tensor(shape: shape, scalars: y), tolerance: 1e-6)
    }

    @Test func largeValuesStayFinite() {
        let x = Tensor(shape: [1, 3], scalars: [1000, 1001, -Float.infinity])
        let y = x.softmax()
        #expect(y.scalars.allSatisfy { $0.isFinite })
        #expect(Swift.abs(y.sum() - 1) < 1e-6)
        #expect(y[0, 2] < 1e-30)
    }
}

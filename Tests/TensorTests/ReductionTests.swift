import Testing
@testable import Tensor

/// Naive reduction of axis `a` with `combine`, starting from the first element.
private func naiveReduce(_ x: Tensor, axis a: Int, _ combine: ([Float]) -> Float) -> [Float] {
    let outer = x.shape[..<a].reduce(1, *), len = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *)
    let xs = x.scalars
    var out: [Float] = []
    for o in 0..<outer {
        for i in 0..<inner { out.append(combine((0..<len).map { xs[(o * len + $0) * inner + i] })) }
    }
    return out
}

@Suite struct ReductionTests {
    @Test(arguments: [([5], 0), ([3, 7], 0), ([3, 7], 1), ([2, 3, 4], 1), ([2, 1, 4], 1), ([2, 3, 5], 2)])
    func matchesNaive(shape: [Int], axis: Int) {
        let x = randomTensor(shape, seed: 81, scale: 5)
        var reduced = shape
        reduced.remove(at: axis)
        var kept = shape
        kept[axis] = 1
        let sum = x.sum(axis: axis)
        #expect(sum.shape == reduced)
        let naiveSum = naiveReduce(x, axis: axis) { Float($0.reduce(0.0) { $0 + Double($1) }) }
        #expect(zip(sum.scalars, naiveSum).allSatisfy { Swift.abs($0 - $1) <= 1e-5 })
        let mean = x.mean(axis: axis, keepDims: true)
        #expect(mean.shape == kept)
        let naiveMean = naiveReduce(x, axis: axis) { Float($0.reduce(0.0) { $0 + Double($1) } / Double($0.count)) }
        #expect(zip(mean.scalars, naiveMean).allSatisfy { Swift.abs($0 - $1) <= 1e-6 })
        #expect(x.max(axis: axis).scalars == naiveReduce(x, axis: axis) { $0.max()! })
        #expect(x.min(axis: axis).scalars == naiveReduce(x, axis: axis) { $0.min()! })
        #expect(x.argmax(axis: axis).scalars == naiveReduce(x, axis: axis) { Float($0.firstIndex(of: $0.max()!)!) })
    }

    @Test func wholeTensorReductions() {
        let x = Tensor(shape: [2, 3], scalars: [1, 5, -2, 5, 0, 3])
        #expect(x.sum() == 12)
        #expect(x.mean() == 2)
        #expect(x.max() == 5 && x.min() == -2)
        #expect(x.argmax() == 1)
        #expect(x.argmax(axis: 1).scalars == [1, 0])
    }
}

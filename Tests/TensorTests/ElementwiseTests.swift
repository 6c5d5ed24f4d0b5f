import Testing
@testable import Tensor

/// Naive broadcasting: reads each operand through right-aligned indices with stretched unit dims.
private func naiveBroadcast(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
    let shape = Broadcast.shape(a.shape, b.shape)!
    func read(_ t: Tensor, _ index: [Int]) -> Float {
        let lead = shape.count - t.rank
        var flat = 0
        for axis in 0..<t.rank { flat = flat * t.shape[axis] + (t.shape[axis] == 1 ? 0 : index[axis + lead]) }
        return t.scalars[flat]
    }
    let n = shape.reduce(1, *)
    var out = [Float](repeating: 0, count: n)
    for flat in 0..<n {
        var index = [Int](repeating: 0, count: shape.count)
        var rest = flat
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        out[flat] = op(read(a, index), read(b, index))
    }
    return Tensor(shape: shape, scalars: out)
}

@Suite struct ElementwiseTests {
    static let pairs: [([Int], [Int])] = [
        ([2, 3], [2, 3]), ([2, 3], [1]), ([1], [4, 5]), ([2, 3, 4, 5], [3, 1, 1]), ([2, 1, 5], [3, 1]),
        ([4, 1], [1, 7]), ([2, 3, 4], [4]), ([3, 1, 2], [3, 5, 2]), ([], [2, 2]), ([1, 1, 1], [5, 1, 3]),
    ]

    @Test(arguments: pairs)
    func broadcastingMatchesNaive(_ sa: [Int], _ sb: [Int]) {
        let a = randomTensor(sa, seed: 71), b = randomTensor(sb, seed: 72) + 2
        #expect((a + b).scalars == naiveBroadcast(a, b, +).scalars)
        #expect((a - b).scalars == naiveBroadcast(a, b, -).scalars)
        #expect((a * b).scalars == naiveBroadcast(a, b, *).scalars)
        #expect((a / b).scalars == naiveBroadcast(a, b, /).scalars)
        #expect(a.maximum(b).scalars == naiveBroadcast(a, b) { Swift.max($0, $1) }.scalars)
        #expect(a.minimum(b).shape == Broadcast.shape(sa, sb))
    }

    @Test func scalarForms() {
        let a = Tensor(shape: [3], scalars: [1, 2, 4])
        #expect((a + 1).scalars == [2, 3, 5])
        #expect((a - 1).scalars == [0, 1, 3])
        #expect((a * 2).scalars == [2, 4, 8])
        #expect((a / 2).scalars == [0.5, 1, 2])
        #expect((1 - a).scalars == [0, -1, -3])
        #expect((8 / a).scalars == [8, 4, 2])
        #expect((-a).scalars == [-1, -2, -4])
        var b = a
        b += a
        b *= 0.5
        #expect(b.scalars == a.scalars)
    }

    @Test func largeBroadcastUsesParallelRowsCorrectly() {
        let a = randomTensor([2, 320, 64, 64], seed: 73), bias = randomTensor([320, 1, 1], seed: 74)
        let y = a + bias
        let b = bias.scalars
        let expected = a.scalars.enumerated().map { $0.element + b[($0.offset / 4096) % 320] }
        #expect(y.scalars == expected)
    }

    @Test func incompatibleShapesAreRejected() {
        #expect(Broadcast.shape([2, 3], [4]) == nil)
        #expect(Broadcast.shape([2, 3], [2, 1, 3]) == [2, 2, 3])
    }
}

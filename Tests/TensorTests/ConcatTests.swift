import Testing
@testable import Tensor

@Suite struct ConcatTests {
    @Test func concatMatchesNaive() {
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), b = Tensor(shape: [2, 1], scalars: [5, 6])
        #expect(concat([a, b], axis: 1).scalars == [1, 2, 5, 3, 4, 6])
        #expect(concat([a, a], axis: 0).scalars == [1, 2, 3, 4, 1, 2, 3, 4])
        #expect(concat([a, b], axis: -1).shape == [2, 3])
        let x = randomTensor([2, 3, 4], seed: 91), y = randomTensor([2, 5, 4], seed: 92)
        let z = concat([x, y], axis: 1)
        #expect(z.shape == [2, 8, 4])
        for n in 0..<2 {
            for c in 0..<8 {
                for w in 0..<4 { #expect(z[n, c, w] == (c < 3 ? x[n, c, w] : y[n, c - 3, w])) }
            }
        }
        #expect(stack([a, a, a], axis: 1).shape == [2, 3, 2])
        #expect(stack([b.reshaped([2]), b.reshaped([2])], axis: 0).scalars == [5, 6, 5, 6])
    }

    @Test func splitAndChunkInvertConcat() {
        let x = randomTensor([3, 7, 2], seed: 93)
        let parts = x.split(sizes: [2, 0, 5], axis: 1)
        #expect(parts.map(\.shape) == [[3, 2, 2], [3, 0, 2], [3, 5, 2]])
        #expect(concat(parts, axis: 1).scalars == x.scalars)
        let chunks = x.chunked(3, axis: 1)
        #expect(chunks.map { $0.shape[1] } == [3, 3, 1])
        #expect(concat(chunks, axis: 1).scalars == x.scalars)
        // Leading-axis chunks are views; they still read the right elements.
        let halves = x.chunked(3, axis: 0)
        #expect(halves.count == 3 && halves[1].scalars == Array(x.scalars[14..<28]))
    }

    @Test func narrowMatchesNaive() {
        let x = randomTensor([4, 6, 5], seed: 94)
        let y = x.narrowed(axis: 1, start: 2, length: 3)
        #expect(y.shape == [4, 3, 5])
        for a in 0..<4 { for b in 0..<3 { for c in 0..<5 { #expect(y[a, b, c] == x[a, b + 2, c]) } } }
        let z = x.narrowed(axis: 0, start: 3, length: 1).narrowed(axis: 1, start: 1, length: 2)
        #expect(z.scalars == Array(x.scalars[(3 * 30 + 5)..<(3 * 30 + 15)]))
    }
}

import Testing
@testable import Tensor

@Suite struct PadTests {
    @Test func modesMatchHandWorkedRows() {
        let x = Tensor(shape: [1, 4], scalars: [1, 2, 3, 4])
        #expect(x.padded(before: [0, 2], after: [0, 1]).scalars == [0, 0, 1, 2, 3, 4, 0])
        #expect(x.padded(before: [0, 2], after: [0, 1], mode: .constant(-1)).scalars == [-1, -1, 1, 2, 3, 4, -1])
        #expect(x.padded(before: [0, 2], after: [0, 2], mode: .reflect).scalars == [3, 2, 1, 2, 3, 4, 3, 2])
        #expect(x.padded(before: [0, 2], after: [0, 1], mode: .replicate).scalars == [1, 1, 1, 2, 3, 4, 4])
    }

    @Test func constantPaddingMatchesNaive() {
        let x = randomTensor([2, 3, 4], seed: 151)
        let y = x.padded(before: [1, 0, 2], after: [0, 2, 1])
        #expect(y.shape == [3, 5, 7])
        for a in 0..<3 { for b in 0..<5 { for c in 0..<7 {
            let (i, j, k) = (a - 1, b, c - 2)
            let inside = i >= 0 && i < 2 && j < 3 && k >= 0 && k < 4
            #expect(y[a, b, c] == (inside ? x[i, j, k] : 0))
        } } }
    }
}

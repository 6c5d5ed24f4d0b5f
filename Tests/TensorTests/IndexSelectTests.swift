import Testing
@testable import Tensor

@Suite struct IndexSelectTests {
    @Test func embeddingLookup() {
        let table = randomTensor([11, 4], seed: 111)
        let ids = [3, 0, 10, 3]
        let y = table.indexSelect(ids)
        #expect(y.shape == [4, 4])
        for (row, id) in ids.enumerated() {
            for k in 0..<4 { #expect(y[row, k] == table[id, k]) }
        }
    }

    @Test func otherAxes() {
        let x = randomTensor([2, 5, 3], seed: 112)
        let y = x.indexSelect([4, 1], axis: 1)
        #expect(y.shape == [2, 2, 3])
        for a in 0..<2 { for c in 0..<3 {
            #expect(y[a, 0, c] == x[a, 4, c])
            #expect(y[a, 1, c] == x[a, 1, c])
        } }
        #expect(x.indexSelect([], axis: 0).shape == [0, 5, 3])
    }
}

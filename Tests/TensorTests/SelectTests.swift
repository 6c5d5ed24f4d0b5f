import Testing
@testable import Tensor

@Suite struct SelectTests {
    @Test func selectsWithBroadcast() {
        let cond = Tensor(shape: [2, 1], scalars: [1, 0])
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor(-1)
        #expect(select(cond, a, b).scalars == [1, 2, 3, -1, -1, -1])
        let x = randomTensor([3, 4], seed: 121)
        let mask = x.greater(Tensor(0))
        #expect(select(mask, x, Tensor(0)).scalars == x.relu().scalars)
        #expect(x.less(Tensor(0)).scalars == x.scalars.map { $0 < 0 ? 1 : 0 })
        #expect(x.equal(x).scalars.allSatisfy { $0 == 1 })
    }
}

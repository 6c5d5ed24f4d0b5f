import Testing
@testable import Tensor

@Suite struct ResampleTests {
    @Test(arguments: [(1, 1), (2, 2), (3, 1), (2, 3)])
    func nearestMatchesNaive(sh: Int, sw: Int) {
        let x = randomTensor([2, 3, 5, 4], seed: 131)
        let y = x.upsampleNearest(scaleH: sh, scaleW: sw)
        #expect(y.shape == [2, 3, 5 * sh, 4 * sw])
        for n in 0..<2 { for c in 0..<3 { for i in 0..<(5 * sh) { for j in 0..<(4 * sw) {
            #expect(y[n, c, i, j] == x[n, c, i / sh, j / sw])
        } } } }
        #expect(x.upsampleNearest(scale: 2).scalars == x.upsampleNearest(scaleH: 2, scaleW: 2).scalars)
    }

    @Test func bilinearIdentityAndConstant() {
        let x = randomTensor([1, 2, 6, 7], seed: 132)
        #expect(x.resizeBilinear(height: 6, width: 7).scalars == x.scalars)
        let c = Tensor.full([1, 1, 3, 3], 2.5).resizeBilinear(height: 8, width: 5)
        #expect(c.scalars.allSatisfy { Swift.abs($0 - 2.5) < 1e-6 })
    }

    /// `F.interpolate(mode='bilinear', align_corners=False)`; tolerance 1e-6 relative to max(1, max|y|).
    @Test(arguments: [("up_13x5", 13, 5), ("up_14x18", 14, 18), ("down_3x4", 3, 4)])
    func bilinearMatchesTorch(name: String, height: Int, width: Int) {
        let x = KernelFixtures.tensor("bilinear", "x")
        expectClose(x.resizeBilinear(height: height, width: width), KernelFixtures.tensor("bilinear", name), tolerance: 1e-6, name)
    }
}

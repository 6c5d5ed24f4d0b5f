import Testing
@testable import Tensor

@Suite struct QuantileTests {
    @Test func smallCasesByHand() {
        let x = Tensor(shape: [1, 5], scalars: [5, 1, 4, 2, 3])
        #expect(x.quantile(0.5, axis: 1).scalars == [3])
        #expect(x.quantile(0, axis: 1).scalars == [1])
        #expect(x.quantile(1, axis: 1, keepDims: true).shape == [1, 1])
        #expect(x.quantile(1, axis: 1).scalars == [5])
        // Position 0.3·4 = 1.2 → 2 + 0.2·(3 − 2).
        #expect(Swift.abs(x.quantile(0.3, axis: 1).item - 2.2) < 1e-6)
        #expect(Tensor(shape: [1], scalars: [7]).quantile(0.9) == 7)
    }

    /// `torch.quantile` (linear); tolerance 1e-6 relative to max(1, max|y|).
    @Test func matchesTorch() {
        let x = KernelFixtures.tensor("quantile", "x")
        expectClose(x.abs().quantile(0.95, axis: 2, keepDims: true), KernelFixtures.tensor("quantile", "q95"), tolerance: 1e-6, "q95")
        expectClose(x.quantile(0.3, axis: 1), KernelFixtures.tensor("quantile", "q30_dim1"), tolerance: 1e-6, "q30")
        #expect(Swift.abs(x.quantile(0.5) - KernelFixtures.tensor("quantile", "q50_all").item) < 1e-6)
    }
}

import Foundation
import Testing
@testable import Tensor

@Suite struct ActivationTests {
    /// PyTorch activations on [-8, 8]; tolerance 2e-6 relative to max(1, max|y|).
    @Test(arguments: ["gelu", "gelu_tanh", "quick_gelu", "silu", "sigmoid", "tanh"])
    func matchesTorch(_ name: String) {
        let x = KernelFixtures.tensor("activations", "x")
        let y: Tensor
        switch name {
        case "gelu": y = x.gelu()
        case "gelu_tanh": y = x.geluTanh()
        case "quick_gelu": y = x.quickGELU()
        case "silu": y = x.silu()
        case "sigmoid": y = x.sigmoid()
        default: y = x.tanh()
        }
        expectClose(y, KernelFixtures.tensor("activations", name), tolerance: 2e-6, name)
    }

    @Test func simpleMathMatchesScalarLoops() {
        let x = randomTensor([3, 17], seed: 61, scale: 3)
        let xs = x.scalars
        #expect(x.exp().scalars == xs.map { Foundation.exp($0) })
        #expect(x.abs().scalars == xs.map { Swift.abs($0) })
        #expect(x.abs().sqrt().scalars == xs.map { Swift.abs($0).squareRoot() })
        #expect(x.clamped(min: -1, max: 0.5).scalars == xs.map { Swift.min(Swift.max($0, -1), 0.5) })
        #expect(x.clamped(min: 0).scalars == xs.map { Swift.max($0, 0) })
        #expect(x.relu().scalars == xs.map { Swift.max($0, 0) })
        #expect(x.pow(2).scalars == xs.map { $0 * $0 })
        #expect(x.abs().log().scalars == xs.map { Foundation.log(Swift.abs($0)) })
    }

    @Test func largeTensorsUseParallelPathCorrectly() {
        let x = randomTensor([5, 40_001], seed: 62, scale: 4)
        let expected = Tensor(shape: x.shape, scalars: x.scalars.map { $0 / (1 + Foundation.exp(-$0)) })
        expectClose(x.silu(), expected, tolerance: 1e-6, "silu")
    }

    /// GEGLU's in-place product equals value · gelu(gate) to the bit, on sizes with a vector
    /// tail and on one large enough to run in parallel.
    @Test(arguments: [[3, 5], [2, 17], [4, 40_003]])
    func multiplyByGELUEqualsValueTimesGELU(shape: [Int]) {
        let value = randomTensor(shape, seed: 71, scale: 3), gate = randomTensor(shape, seed: 72, scale: 6)
        var product = value
        product.multiplyByGELU(of: gate)
        #expect(product.scalars == (value * gate.gelu()).scalars)
        #expect(value.scalars != product.scalars, "the copy must not have written into value's storage")
    }
}

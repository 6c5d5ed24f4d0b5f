import Foundation
import Testing
@testable import Tensor

private func naiveGroupNorm(_ x: Tensor, groups: Int, _ w: Tensor?, _ b: Tensor?, eps: Float) -> Tensor {
    let n = x.shape[0], c = x.shape[1]
    let spatial = x.count / (n * c)
    let per = c / groups * spatial
    var y = x.scalars
    for ng in 0..<(n * groups) {
        let vals = Array(y[(ng * per)..<((ng + 1) * per)]).map(Double.init)
        let mean = vals.reduce(0, +) / Double(per)
        let variance = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(per)
        for k in 0..<per {
            let ch = (ng % groups) * (c / groups) + k / spatial
            var v = (vals[k] - mean) / (variance + Double(eps)).squareRoot()
            v = v * Double(w?.scalars[ch] ?? 1) + Double(b?.scalars[ch] ?? 0)
            y[ng * per + k] = Float(v)
        }
    }
    return Tensor(shape: x.shape, scalars: y)
}

@Suite struct GroupNormTests {
    @Test(arguments: [([1, 1, 1, 1], 1), ([2, 6, 5, 3], 3), ([1, 8, 7, 7], 8), ([3, 4, 11], 2), ([1, 32, 4, 4], 32)])
    func matchesNaive(shape: [Int], groups: Int) {
        let x = randomTensor(shape, seed: 41, scale: 3) - 0.7
        let w = randomTensor([shape[1]], seed: 42), b = randomTensor([shape[1]], seed: 43)
        let expected = naiveGroupNorm(x, groups: groups, w, b, eps: 1e-5)
        expectClose(groupNorm(x, groups: groups, weight: w, bias: b), expected, tolerance: 1e-5, "affine")
        expectClose(groupNormSiLU(x, groups: groups, weight: w, bias: b), expected.silu(), tolerance: 1e-5, "fused SiLU")
        expectClose(groupNorm(x, groups: groups, weight: nil, bias: nil, eps: 1e-6),
                    naiveGroupNorm(x, groups: groups, nil, nil, eps: 1e-6), tolerance: 1e-5, "plain")
    }

    /// PyTorch `group_norm` (eps 1e-6) and `silu(group_norm)`; tolerance 1e-5 relative to max(1, max|y|).
    @Test func matchesTorch() {
        let x = KernelFixtures.tensor("group_norm", "x")
        let w = KernelFixtures.tensor("group_norm", "weight"), b = KernelFixtures.tensor("group_norm", "bias")
        expectClose(groupNorm(x, groups: 4, weight: w, bias: b, eps: 1e-6), KernelFixtures.tensor("group_norm", "y"), tolerance: 1e-5)
        expectClose(groupNormSiLU(x, groups: 4, weight: w, bias: b, eps: 1e-6), KernelFixtures.tensor("group_norm", "y_silu"), tolerance: 1e-5)
    }
}

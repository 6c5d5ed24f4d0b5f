import Testing
@testable import Tensor

private func naiveLayerNorm(_ x: Tensor, _ w: Tensor?, _ b: Tensor?, eps: Float) -> Tensor {
    let d = x.shape.last!
    var y = x.scalars
    for r in 0..<(x.count / d) {
        let row = Array(y[(r * d)..<((r + 1) * d)]).map(Double.init)
        let mean = row.reduce(0, +) / Double(d)
        let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
        for k in 0..<d {
            var v = Float((row[k] - mean) / (variance + Double(eps)).squareRoot())
            if let w { v *= w.scalars[k] }
            if let b { v += b.scalars[k] }
            y[r * d + k] = v
        }
    }
    return Tensor(shape: x.shape, scalars: y)
}

@Suite struct LayerNormTests {
    @Test(arguments: [[1, 1], [3, 7], [2, 5, 33], [1, 768]])
    func matchesNaive(_ shape: [Int]) {
        let x = randomTensor(shape, seed: 31, scale: 4) + 1.5
        let d = shape.last!
        let w = randomTensor([d], seed: 32), b = randomTensor([d], seed: 33)
        expectClose(layerNorm(x, weight: w, bias: b), naiveLayerNorm(x, w, b, eps: 1e-5), tolerance: 1e-5, "affine")
        expectClose(layerNorm(x, weight: nil, bias: nil, eps: 1e-3), naiveLayerNorm(x, nil, nil, eps: 1e-3), tolerance: 1e-5, "plain")
    }

    /// PyTorch `layer_norm`; tolerance 1e-5 relative to max(1, max|y|).
    @Test func matchesTorch() {
        let x = KernelFixtures.tensor("layer_norm", "x")
        let y = layerNorm(x, weight: KernelFixtures.tensor("layer_norm", "weight"), bias: KernelFixtures.tensor("layer_norm", "bias"), eps: 1e-5)
        expectClose(y, KernelFixtures.tensor("layer_norm", "y"), tolerance: 1e-5)
    }
}

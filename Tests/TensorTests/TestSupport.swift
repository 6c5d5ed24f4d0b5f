import Foundation
import Testing
@testable import Tensor
import TestSupport

/// Deterministic SplitMix64 generator for test inputs.
struct TestRNG {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    mutating func uniform() -> Float {
        Float(next() >> 40) / Float(1 << 24) * 2 - 1
    }
}

/// A tensor of uniform values in [-scale, scale).
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = TestRNG(seed: seed)
    let n = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: (0..<n).map { _ in rng.uniform() * scale })
}


/// Expects `actual` within `tolerance · max(1, max|expected|)` of `expected` everywhere.
func expectClose(
    _ actual: Tensor, _ expected: Tensor, tolerance: Float, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let scale = Swift.max(1, expected.scalars.map { Swift.abs($0) }.max() ?? 0)
    let err = maxAbsDifference(actual, expected)
    #expect(err <= tolerance * scale, "\(what): max abs error \(err) > \(tolerance) × scale \(scale)",
            sourceLocation: sourceLocation)
}

/// Committed PyTorch reference outputs (made by ops/reference/tensor_fixtures.py).
struct KernelFixtures: Decodable {
    struct Packed: Decodable {
        let shape: [Int]
        let data: [Double]
        var tensor: Tensor { Tensor(shape: shape, scalars: data.map { Float($0) }) }
    }

    let torch: String
    let cases: [String: [String: Packed]]

    static let shared: KernelFixtures = {
        let url = TestPaths.fixture("tensor/kernels.json")
        do {
            return try JSONDecoder().decode(KernelFixtures.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read tensor fixtures at \(url.path): \(error)")
        }
    }()

    /// Tensor `name` of fixture case `kase`.
    static func tensor(_ kase: String, _ name: String) -> Tensor {
        guard let packed = shared.cases[kase]?[name] else {
            fatalError("tensor fixture \(kase)/\(name) missing: rerun ops/reference/tensor_fixtures.py")
        }
        return packed.tensor
    }
}

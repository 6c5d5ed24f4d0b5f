import Foundation
import Tensor
@testable import Diffusion

/// Fixture access shared by the UNet, VAE and layer tests.
enum ModelFixtures {
    /// `Tests/Fixtures/<area>/<name>`, found relative to this source file.
    static func folder(_ area: String, _ name: String) -> URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
            .appendingPathComponent(area)
            .appendingPathComponent(name)
    }

    /// The inputs and diffusers outputs written beside a fixture model (`io.safetensors`).
    static func io(_ area: String, _ name: String) throws -> WeightStore {
        try WeightStore(files: [folder(area, name).appendingPathComponent("io.safetensors")])
    }
}

/// Largest absolute difference between two tensors of the same shape.
func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "maxAbsDifference: \(a.shape) vs \(b.shape)")
    let x = a.scalars, y = b.scalars
    var worst: Float = 0
    for i in x.indices { worst = max(worst, abs(x[i] - y[i])) }
    return worst
}

/// Largest absolute value (the output scale parity errors are measured against).
func maxAbs(_ a: Tensor) -> Float {
    a.scalars.reduce(0) { max($0, abs($1)) }
}

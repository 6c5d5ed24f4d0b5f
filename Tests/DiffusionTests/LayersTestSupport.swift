import Foundation
import Tensor
@testable import Diffusion
import TestSupport

/// Fixture access shared by the UNet, VAE and layer tests.
enum ModelFixtures {
    /// `Tests/Fixtures/<area>/<name>`, found relative to this source file.
    static func folder(_ area: String, _ name: String) -> URL {
        TestPaths.fixtures
            .appendingPathComponent(area)
            .appendingPathComponent(name)
    }

    /// The inputs and diffusers outputs written beside a fixture model (`io.safetensors`).
    static func io(_ area: String, _ name: String) throws -> WeightStore {
        try WeightStore(files: [folder(area, name).appendingPathComponent("io.safetensors")])
    }
}

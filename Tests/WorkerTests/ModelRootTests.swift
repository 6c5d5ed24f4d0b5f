import Foundation
import Testing
import Worker

/// `model.root`: model, overlay and NudeNet paths outside the configured model folder are
/// refused at start-up, also through `..` and symbolic links.
@Suite struct ModelRootTests {
    /// A temporary models folder with a model inside, a folder beside it, and links.
    struct Layout {
        let base: URL
        var root: URL { base.appendingPathComponent("models") }

        init() throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-model-root-\(UInt32.random(in: 0...UInt32.max))")
            let manager = FileManager.default
            try manager.createDirectory(at: base.appendingPathComponent("models/sd15/unet"), withIntermediateDirectories: true)
            try manager.createDirectory(at: base.appendingPathComponent("models-evil"), withIntermediateDirectories: true)
            try manager.createDirectory(at: base.appendingPathComponent("elsewhere"), withIntermediateDirectories: true)
            manager.createFile(atPath: base.appendingPathComponent("models/overlay.safetensors").path, contents: Data())
            manager.createFile(atPath: base.appendingPathComponent("elsewhere/overlay.safetensors").path, contents: Data())
            try manager.createSymbolicLink(at: base.appendingPathComponent("models/escape"), withDestinationURL: base.appendingPathComponent("elsewhere"))
            try manager.createSymbolicLink(at: base.appendingPathComponent("elsewhere/into-models"), withDestinationURL: base.appendingPathComponent("models/sd15"))
        }

        func remove() { try? FileManager.default.removeItem(at: base) }
    }

    static func load(_ layout: Layout, _ values: [String: String]) async throws -> WorkerConfiguration {
        var environment = ["CHAPERONE_MODEL_ROOT": layout.root.path]
        for (key, value) in values { environment[key] = value }
        return try await WorkerConfiguration.load(environment: environment)
    }

    @Test func pathsInsideTheRootAreAccepted() async throws {
        let layout = try Layout()
        defer { layout.remove() }
        let configuration = try await Self.load(layout, [
            "CHAPERONE_MODEL_PATH": layout.root.appendingPathComponent("sd15").path,
            "CHAPERONE_MODEL_OVERLAY": layout.root.path + "/sd15/../overlay.safetensors",
            "CHAPERONE_MODEL_NUDENET": layout.base.appendingPathComponent("elsewhere/into-models/unet").path,
        ])
        #expect(configuration.modelRoot == layout.root.path)
        #expect(WorkerConfiguration.isInside(layout.root.path, root: layout.root.path))
    }

    @Test(arguments: ["CHAPERONE_MODEL_PATH", "CHAPERONE_MODEL_OVERLAY", "CHAPERONE_MODEL_NUDENET"])
    func pathsOutsideTheRootAreRefused(key: String) async throws {
        let layout = try Layout()
        defer { layout.remove() }
        let outside = [
            layout.base.appendingPathComponent("elsewhere/overlay.safetensors").path,  // plainly outside
            layout.root.path + "/../elsewhere/overlay.safetensors",  // .. out of the root
            layout.root.path + "/escape/overlay.safetensors",  // a link inside pointing outside
            layout.base.appendingPathComponent("models-evil").path,  // a sibling sharing the prefix
            "/etc/passwd",
        ]
        for path in outside {
            do {
                _ = try await Self.load(layout, [key: path])
                Issue.record("\(key)=\(path) outside model.root was accepted")
            } catch let error as WorkerError {
                #expect(error.message.contains("outside model.root"), "\(error.message)")
                #expect(error.message.contains(path))
            }
        }
    }

    @Test func withoutARootNothingIsRestricted() async throws {
        let configuration = try await WorkerConfiguration.load(environment: ["CHAPERONE_MODEL_OVERLAY": "/etc/passwd"])
        #expect(configuration.modelRoot == nil)
        #expect(configuration.overlayPath == "/etc/passwd")
    }
}

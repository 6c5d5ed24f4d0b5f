import Diffusion
import Foundation

/// Fuzz entry point for the safetensors reader (`ops/fuzz/run safetensors` and the replay
/// tests). A header that validates must describe tensors that lie inside the file with sizes
/// matching dtype and shape; reading every float tensor of such a file must not crash.
enum SafeTensorsFuzz {
    /// A scratch file per process for the full reader (it memory-maps a path).
    static let scratch = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("chaperone-fuzz-safetensors-\(ProcessInfo.processInfo.processIdentifier).safetensors")

    static func run(_ bytes: [UInt8]) {
        let header: SafeTensorsHeader
        do {
            header = try bytes.withUnsafeBytes { try SafeTensorsHeader(bytes: $0, source: "fuzz") }
        } catch {
            return
        }
        precondition(header.dataStart >= 8 && header.dataStart + header.dataLength <= bytes.count, "data section outside the file")
        for info in header.tensors {
            precondition(info.dataOffsets.lowerBound >= 0 && info.dataOffsets.upperBound <= header.dataLength,
                         "tensor \(info.name) lies outside the data section")
            precondition(info.dataOffsets.count == info.elementCount * info.dtype.size,
                         "tensor \(info.name): \(info.dataOffsets.count) bytes for \(info.shape) \(info.dtype.rawValue)")
        }
        guard bytes.count <= 1 << 20 else { return }
        do {
            try Data(bytes).write(to: scratch)
            let file = try SafeTensorsFile(url: scratch)
            for name in file.names where file.info(name)?.dtype.convertsToFloat32 == true {
                let tensor = try file.tensor(name)
                precondition(tensor.shape == file.info(name)?.shape, "tensor \(name) read with another shape")
            }
        } catch {
            fatalError("a validated safetensors file fails to read: \(error)")
        }
    }
}

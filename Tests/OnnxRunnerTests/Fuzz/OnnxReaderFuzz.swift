import Foundation
import OnnxRunner

/// Fuzz entry point for the ONNX reader (`ops/fuzz/run onnx` and the replay tests): any bytes
/// decode to a model or fail with an `OnnxError`; a decoded model is planned (graph checks,
/// initializers, operator attributes) without crashing.
enum OnnxReaderFuzz {
    static func run(_ bytes: [UInt8]) {
        guard let proto = try? OnnxModelProto(serialized: bytes) else { return }
        _ = try? OnnxModel(model: proto)
    }
}

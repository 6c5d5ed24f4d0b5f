import Foundation
import OnnxRunner
import Tensor
import TestSupport

/// Fixtures written by ops/reference/make_onnx_fixtures.py (onnxruntime outputs).
enum OnnxFixtures {
    static let root = TestPaths.fixture("onnx")

    static func url(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// Reads `<case>/<prefix>_<i>.pb` files in order, with the value names they carry.
    static func tensors(_ caseName: String, prefix: String) throws -> [(name: String, value: OnnxValue)] {
        var result: [(String, OnnxValue)] = []
        var i = 0
        while true {
            let file = url(caseName).appendingPathComponent("\(prefix)_\(i).pb")
            guard FileManager.default.fileExists(atPath: file.path) else { break }
            let bytes = [UInt8](try Data(contentsOf: file))
            let value = try OnnxValue(serializedTensorProto: bytes, context: file.lastPathComponent)
            result.append((try tensorName(bytes), value))
            i += 1
        }
        return result
    }

    /// The `name` field (8) of a serialized TensorProto; test data files name the graph value.
    static func tensorName(_ bytes: [UInt8]) throws -> String {
        var i = 0
        func varint() -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while i < bytes.count {
                let b = bytes[i]; i += 1
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            return v
        }
        while i < bytes.count {
            let key = varint()
            switch key & 7 {
            case 0: _ = varint()
            case 1: i += 8
            case 5: i += 4
            case 2:
                let n = Int(varint())
                if key >> 3 == 8 { return String(decoding: bytes[i..<(i + n)], as: UTF8.self) }
                i += n
            default: return ""
            }
        }
        return ""
    }
}


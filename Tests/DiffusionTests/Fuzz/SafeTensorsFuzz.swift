import Diffusion
import Foundation

/// Fuzz entry point for the safetensors reader (`ops/fuzz/run safetensors` and the replay
/// tests). A header that validates must describe tensors that lie inside the file with sizes
/// matching dtype and shape; reading every float tensor of such a file must not crash.
///
/// Random mutation rarely turns bytes into a JSON header, so each input is also read as a
/// recipe (`structuredFile(from:)`): its bytes choose tensor names, dtypes, shapes, offsets,
/// metadata and length fields, mostly consistent and sometimes off by a little, and the built
/// file goes through the same checks.
enum SafeTensorsFuzz {
    /// Runs the input as a file and as a recipe for one.
    static func runBoth(_ bytes: [UInt8]) {
        run(bytes)
        run(structuredFile(from: bytes))
    }

    /// A scratch file for the full reader (it memory-maps a path); one per call, since the
    /// replay tests run side by side in one process.
    static func scratchFile() -> URL {
        URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("chaperone-fuzz-safetensors-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).safetensors")
    }

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
        let scratch = scratchFile()
        defer { try? FileManager.default.removeItem(at: scratch) }
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

    /// Builds a safetensors file from a recipe: every choice is read from `recipe` in turn
    /// (zero once it runs out), the remaining bytes fill the data section.
    static func structuredFile(from recipe: [UInt8]) -> [UInt8] {
        var input = RecipeReader(recipe)
        let names = ["w", "b", "down.0.weight", "mid.attn1.to_q.weight", "up.1.bias", "x", "y", "z",
                     "w", "", "__metadata__", "é", "a\\\"b"]
        let dtypes = SafeTensorsDType.allCases.map(\.rawValue) + ["F4", "f32", ""]
        let largeDimensions = [0, 1, 7, 255, 1 << 31, 1 << 62, Int.max, -1]
        var entries: [String] = []
        var position = 0
        for _ in 0..<Int(input.next() % 6) {
            let name = names[input.pick(names.count)]
            let byte = input.next()   // half the tensors are ones the reader converts to float32
            let dtypeName = byte < 128 ? ["F32", "F16", "BF16", "F64"][Int(byte) % 4] : dtypes[Int(byte) % dtypes.count]
            var shape: [Int] = []
            for _ in 0..<Int(input.next() % 5) {
                let byte = Int(input.next())
                shape.append(byte < 224 ? byte % 6 : largeDimensions[byte % largeDimensions.count])
            }
            let size = SafeTensorsDType(rawValue: dtypeName)?.size ?? 4
            var bytes = size
            for dim in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: max(dim, 0))
                bytes = overflow ? Int.max / 2 : product
            }
            bytes = min(bytes, Int.max / 2)
            let offsets: String
            switch input.next() % 24 {
            case 0: offsets = "[\(position), \(position + bytes - 1)]"            // one byte short
            case 1: offsets = "[\(position + 1), \(position + bytes + 1)]"        // leaves a gap
            case 2: offsets = "[\(max(position - 1, 0)), \(max(position - 1, 0) + bytes)]"  // overlaps
            case 3: offsets = ["[-1, 4]", "[0, 1.5]", "[4, 0]", "[0]", "[0, 18446744073709551615]", "\"0\"", "null"][input.pick(7)]
            default: offsets = "[\(position), \(position + bytes)]"
            }
            position = min(position + bytes, Int.max / 2)
            let shapeText = input.next() % 32 == 0 ? "[1.0]" : "[" + shape.map(String.init).joined(separator: ",") + "]"
            entries.append("\"\(name)\":{\"dtype\":\"\(dtypeName)\",\"shape\":\(shapeText),\"data_offsets\":\(offsets)}")
        }
        switch input.next() % 5 {
        case 1: entries.append("\"__metadata__\":{\"format\":\"pt\"}")
        case 2: entries.append("\"__metadata__\":{\"format\":1}")
        case 3: entries.append("\"__metadata__\":\"pt\"")
        default: break
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header += Array(repeating: UInt8(ascii: " "), count: Int(input.next() % 8))
        var length = UInt64(header.count)
        switch input.next() % 16 {
        case 0: length += 1
        case 1: length = length > 0 ? length - 1 : 0
        case 2: length = UInt64(SafeTensorsHeader.maximumHeaderLength) + 1
        default: break
        }
        var dataLength = min(position, 1 << 12)
        switch input.next() % 16 {
        case 0: dataLength += 1
        case 1: dataLength = max(dataLength - 1, 0)
        default: break
        }
        var file = withUnsafeBytes(of: length.littleEndian) { Array($0) } + header
        let rest = Array(input.remaining)
        file += (0..<dataLength).map { rest.isEmpty ? UInt8(truncatingIfNeeded: $0) : rest[$0 % rest.count] }
        return file
    }
}

/// Reads a fuzz input byte by byte; zero once it runs out.
private struct RecipeReader {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func next() -> UInt8 {
        defer { index += 1 }
        return index < bytes.count ? bytes[index] : 0
    }

    /// An index below `count`.
    mutating func pick(_ count: Int) -> Int { Int(next()) % count }

    /// The bytes not read yet.
    var remaining: ArraySlice<UInt8> { index < bytes.count ? bytes[index...] : [] }
}

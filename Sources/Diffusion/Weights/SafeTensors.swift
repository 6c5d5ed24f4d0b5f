import Foundation
import Tensor

#if _endian(big)
#error("The safetensors reader and writer assume a little-endian host.")
#endif

/// A safetensors file, memory-mapped and validated at open; tensors convert to float32 on demand.
///
/// Opening reads only the header; `tensor(_:)` copies (and converts F16/BF16/F64) one tensor's
/// bytes out of the mapping, so a large checkpoint costs memory only for what is used.
public final class SafeTensorsFile: Sendable {
    /// The file's path as given (used in error messages).
    public let path: String
    /// The validated header.
    public let header: SafeTensorsHeader
    fileprivate let file: MappedFile
    fileprivate let index: [String: SafeTensorInfo]

    /// Maps and validates `url`; a corrupt, truncated or inconsistent file throws `DiffusionError`.
    public init(url: URL) throws {
        let mapped = try MappedFile(path: url.path)
        let header = try mapped.withBytes { try SafeTensorsHeader(bytes: $0, source: url.path) }
        self.path = url.path
        self.file = mapped
        self.header = header
        self.index = Dictionary(header.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Tensor names, sorted.
    public var names: [String] { header.tensors.map(\.name) }

    /// The `__metadata__` map (empty when absent).
    public var metadata: [String: String] { header.metadata }

    /// The header entry for `name`, or nil.
    public func info(_ name: String) -> SafeTensorInfo? { index[name] }

    /// Reads tensor `name` as float32 (F32, F16, BF16 and F64 convert; other dtypes throw).
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = index[name] else {
            throw DiffusionError(.missingTensor, "\(path): no tensor named '\(name)'")
        }
        guard info.dtype.convertsToFloat32 else {
            throw DiffusionError(.unsupportedDType,
                "\(path): tensor '\(name)' has dtype \(info.dtype.rawValue), which does not convert to float32")
        }
        let count = info.elementCount
        let start = header.dataStart + info.dataOffsets.lowerBound
        return file.withBytes { bytes in
            Tensor(shape: info.shape, unsafeUninitialized: { out in
                let source = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + info.dataOffsets.count)])
                SafeTensorsConversion.toFloat32(source, dtype: info.dtype, count: count, into: out)
            })
        }
    }
}

extension SafeTensorsFile {
    /// Tensor `name` as 16-bit values borrowed from the mapping (no copy) when its dtype is F16
    /// or BF16; nil for other dtypes. The view keeps this file mapped while it exists.
    public func halfTensor(_ name: String) throws -> HalfTensor? {
        guard let info = index[name] else {
            throw DiffusionError(.missingTensor, "\(path): no tensor named '\(name)'")
        }
        let format: HalfTensor.Format
        switch info.dtype {
        case .f16: format = .float16
        case .bf16: format = .bfloat16
        default: return nil
        }
        let start = header.dataStart + info.dataOffsets.lowerBound
        return file.withBytes { bytes in
            HalfTensor(shape: info.shape, format: format, borrowing: bytes.baseAddress! + start, owner: file)
        }
    }
}

/// Element conversions to float32 (exact: every F16/BF16 value is representable).
enum SafeTensorsConversion {
    static func toFloat32(_ source: UnsafeRawBufferPointer, dtype: SafeTensorsDType, count: Int,
                          into out: UnsafeMutableBufferPointer<Float>) {
        guard count > 0, let outBase = out.baseAddress else { return }
        switch dtype {
        case .f32:
            UnsafeMutableRawPointer(outBase).copyMemory(from: source.baseAddress!, byteCount: count * 4)
        case .f16:
            for i in 0..<count {
                out[i] = halfToFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                out[i] = Float(bitPattern: bits)
            }
        case .f64:
            for i in 0..<count {
                out[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
            }
        default:
            preconditionFailure("toFloat32: dtype \(dtype.rawValue) is rejected before conversion")
        }
    }

    /// IEEE 754 binary16 bits to float32 (subnormals, infinities and NaN included).
    @inline(__always)
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        var mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            // Subnormal: normalise the mantissa.
            var e: UInt32 = 113  // 127 - 15 + 1
            while mantissa & 0x400 == 0 {
                mantissa <<= 1
                e -= 1
            }
            mantissa &= 0x3FF
            return Float(bitPattern: sign | (e << 23) | (mantissa << 13))
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}

/// Writes float32 safetensors files: tensors sorted by name, header padded with spaces to a
/// multiple of 8 bytes, so the same tensors always give the same bytes.
public enum SafeTensorsWriter {
    /// The file's bytes for `tensors` (all stored as F32) and optional `__metadata__`.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        guard !tensors.keys.contains("__metadata__") else {
            throw DiffusionError(.invalidInput, "safetensors writer: '__metadata__' is reserved and cannot name a tensor")
        }
        let names = tensors.keys.sorted()
        var json = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(quoted($0)):\(quoted(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for name in names {
            let tensor = tensors[name]!
            let bytes = tensor.count * 4
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(quoted(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        json += fields.joined(separator: ",") + "}"
        var headerBytes = Array(json.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        var data = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        for name in names {
            tensors[name]!.withUnsafeBufferPointer { data.append(contentsOf: UnsafeRawBufferPointer($0)) }
        }
        return data
    }

    /// Writes `tensors` to `url` atomically.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let data = try encode(tensors, metadata: metadata)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw DiffusionError(.io, "\(url.path): cannot write safetensors file (\(error.localizedDescription))")
        }
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

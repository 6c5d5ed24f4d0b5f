import Foundation

/// Element types a safetensors header may declare (the format's dtype names).
///
/// All of them are recognised so that a header naming them validates; only `F32`, `F16`, `BF16`
/// (and `F64`) convert to float32 at load.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL"
    case u8 = "U8", i8 = "I8"
    case f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case u16 = "U16", i16 = "I16", f16 = "F16", bf16 = "BF16"
    case u32 = "U32", i32 = "I32", f32 = "F32"
    case u64 = "U64", i64 = "I64", f64 = "F64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: 1
        case .u16, .i16, .f16, .bf16: 2
        case .u32, .i32, .f32: 4
        case .u64, .i64, .f64: 8
        }
    }

    /// Whether `SafeTensorsFile.tensor(_:)` can convert this dtype to float32.
    public var convertsToFloat32: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64: true
        default: false
        }
    }
}

/// One tensor's entry in a safetensors header: where its bytes are and how to read them.
public struct SafeTensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: SafeTensorsDType
    public var shape: [Int]
    /// Byte range relative to the start of the data section (after the header).
    public var dataOffsets: Range<Int>

    /// Number of elements (product of `shape`).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed and validated safetensors header.
///
/// Layout: 8-byte little-endian header length `N`, then `N` bytes of UTF-8 JSON, then the data
/// section. Validation follows the format's rules: the length fits the file, every entry has a
/// known dtype, non-negative shape and `[begin, end]` offsets, `end - begin` equals the element
/// count times the dtype size, and the entries tile the data section exactly (sorted by offset,
/// no gap, no overlap, nothing left over). `__metadata__` (string to string) is kept.
public struct SafeTensorsHeader: Sendable, Equatable {
    /// Largest header the reader accepts (the reference implementation's limit).
    public static let maximumHeaderLength = 100_000_000

    /// Entries sorted by name.
    public var tensors: [SafeTensorInfo]
    /// The optional `__metadata__` map.
    public var metadata: [String: String]
    /// Byte offset of the data section from the start of the file (8 + header length).
    public var dataStart: Int
    /// Length of the data section in bytes.
    public var dataLength: Int

    /// Parses and validates the header at the start of `bytes`, which holds the whole file.
    ///
    /// - Parameter source: names the file in error messages.
    public init(bytes: UnsafeRawBufferPointer, source: String) throws {
        let fileSize = bytes.count
        guard fileSize >= 8 else {
            throw DiffusionError(.invalidSafeTensors,
                "\(source): file is \(fileSize) bytes, shorter than the 8-byte header length field")
        }
        let rawLength = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard rawLength <= UInt64(SafeTensorsHeader.maximumHeaderLength) else {
            throw DiffusionError(.invalidSafeTensors,
                "\(source): header length \(rawLength) exceeds the \(SafeTensorsHeader.maximumHeaderLength)-byte limit")
        }
        let headerLength = Int(rawLength)
        guard headerLength <= fileSize - 8 else {
            throw DiffusionError(.invalidSafeTensors,
                "\(source): header length \(headerLength) runs past the end of the file (\(fileSize) bytes, truncated?)")
        }
        guard headerLength >= 2, bytes[8] == UInt8(ascii: "{") else {
            throw DiffusionError(.invalidSafeTensors,
                "\(source): header at byte offset 8 is not a JSON object")
        }
        let json = Data(bytes[8..<(8 + headerLength)])
        let root: [String: JSONValue]
        do {
            root = try JSONDecoder().decode([String: JSONValue].self, from: json)
        } catch {
            throw DiffusionError(.invalidSafeTensors,
                "\(source): header JSON (bytes 8..<\(8 + headerLength)) does not parse: \(error)")
        }
        dataStart = 8 + headerLength
        dataLength = fileSize - dataStart
        metadata = [:]
        var entries: [SafeTensorInfo] = []
        for (name, value) in root {
            if name == "__metadata__" {
                metadata = try Self.parseMetadata(value, source: source)
            } else {
                entries.append(try Self.parseEntry(name: name, value: value, source: source))
            }
        }
        try Self.checkCoverage(entries, dataLength: dataLength, source: source)
        tensors = entries.sorted { $0.name < $1.name }
    }

    private static func parseMetadata(_ value: JSONValue, source: String) throws -> [String: String] {
        guard case .object(let fields) = value else {
            throw DiffusionError(.invalidSafeTensors, "\(source): __metadata__ is not an object")
        }
        var result: [String: String] = [:]
        for (key, field) in fields {
            guard case .string(let text) = field else {
                throw DiffusionError(.invalidSafeTensors, "\(source): __metadata__ value for '\(key)' is not a string")
            }
            result[key] = text
        }
        return result
    }

    private static func parseEntry(name: String, value: JSONValue, source: String) throws -> SafeTensorInfo {
        func fail(_ what: String) -> DiffusionError {
            DiffusionError(.invalidSafeTensors, "\(source): tensor '\(name)': \(what)")
        }
        guard case .object(let fields) = value else { throw fail("header entry is not an object") }
        guard case .string(let dtypeName)? = fields["dtype"] else { throw fail("missing or non-string dtype") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw DiffusionError(.unsupportedDType, "\(source): tensor '\(name)': unknown dtype '\(dtypeName)'")
        }
        guard case .array(let dims)? = fields["shape"] else { throw fail("missing or non-array shape") }
        var shape: [Int] = []
        for dim in dims {
            guard case .integer(let n) = dim, n >= 0 else { throw fail("shape \(dims) has a non-integer or negative dimension") }
            shape.append(n)
        }
        guard case .array(let offsets)? = fields["data_offsets"], offsets.count == 2,
              case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1],
              begin >= 0, end >= begin
        else { throw fail("data_offsets must be two non-negative integers [begin, end] with begin <= end") }

        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw fail("shape \(shape) overflows the element count") }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow else { throw fail("shape \(shape) of \(dtypeName) overflows the byte count") }
        guard end - begin == bytes else {
            throw fail("shape \(shape) of \(dtypeName) needs \(bytes) bytes but data_offsets [\(begin), \(end)] span \(end - begin)")
        }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// The entries must tile `0..<dataLength` exactly.
    private static func checkCoverage(_ entries: [SafeTensorInfo], dataLength: Int, source: String) throws {
        let ordered = entries.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name)
        }
        var position = 0
        var previous: String?
        for entry in ordered {
            let range = entry.dataOffsets
            guard range.upperBound <= dataLength else {
                throw DiffusionError(.invalidSafeTensors,
                    "\(source): tensor '\(entry.name)': data_offsets [\(range.lowerBound), \(range.upperBound)] run past the data section (\(dataLength) bytes, truncated?)")
            }
            if range.lowerBound < position {
                throw DiffusionError(.invalidSafeTensors,
                    "\(source): tensor '\(entry.name)': data_offsets [\(range.lowerBound), \(range.upperBound)] overlap tensor '\(previous ?? "?")' (which ends at \(position))")
            }
            if range.lowerBound > position {
                throw DiffusionError(.invalidSafeTensors,
                    "\(source): tensor '\(entry.name)': data_offsets start at \(range.lowerBound), leaving bytes \(position)..<\(range.lowerBound) of the data section unused")
            }
            position = range.upperBound
            previous = entry.name
        }
        guard position == dataLength else {
            throw DiffusionError(.invalidSafeTensors,
                "\(source): data section is \(dataLength) bytes but the tensors cover only \(position)")
        }
    }
}

/// A JSON value as the safetensors header uses it: integers stay exact (no Double rounding).
enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}

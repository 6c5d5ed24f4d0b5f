/// A bounds-checked reader of the protobuf wire format, enough to decode ONNX messages by hand.
///
/// Every read checks the remaining length first, so a truncated or corrupted file becomes an
/// `OnnxError.malformed` naming the byte offset (counted from the start of the file), never a
/// crash. Nested messages are read through `subReader(length:)`, which keeps absolute offsets.
struct ProtoReader {
    /// Wire types of protobuf (type 3/4, groups, are obsolete and rejected).
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    private let bytes: UnsafeRawBufferPointer
    /// Absolute offset of the next byte to read.
    private(set) var offset: Int
    /// Absolute offset one past the last byte of this (sub)message.
    let end: Int
    /// What is being decoded, for error messages ("TensorProto", "NodeProto 'conv1'").
    let context: String

    init(bytes: UnsafeRawBufferPointer, context: String) {
        self.bytes = bytes
        self.offset = 0
        self.end = bytes.count
        self.context = context
    }

    private init(bytes: UnsafeRawBufferPointer, offset: Int, end: Int, context: String) {
        self.bytes = bytes
        self.offset = offset
        self.end = end
        self.context = context
    }

    var isAtEnd: Bool { offset >= end }

    func error(_ what: String, at position: Int? = nil) -> OnnxError {
        OnnxError(.malformed, "\(what) in \(context) at byte offset \(position ?? offset)")
    }

    /// Reads a base-128 varint of at most 10 bytes.
    mutating func readVarint() throws(OnnxError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw error("truncated varint", at: start) }
            let byte = bytes[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw error("varint overflows 64 bits", at: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw error("varint longer than 10 bytes", at: start) }
        }
    }

    /// Reads a field key; returns the field number and wire type.
    mutating func readKey() throws(OnnxError) -> (field: Int, wireType: WireType) {
        let start = offset
        let key = try readVarint()
        let field = key >> 3
        guard field >= 1, field <= 536_870_911 else { throw error("invalid field number \(field)", at: start) }
        guard let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw error("unsupported wire type \(key & 7) for field \(field)", at: start)
        }
        return (Int(field), wireType)
    }

    mutating func readFixed32() throws(OnnxError) -> UInt32 {
        guard end - offset >= 4 else { throw error("truncated fixed32") }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        offset += 4
        return value
    }

    mutating func readFixed64() throws(OnnxError) -> UInt64 {
        guard end - offset >= 8 else { throw error("truncated fixed64") }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return value
    }

    /// Reads a length prefix and checks that many bytes remain.
    mutating func readLength() throws(OnnxError) -> Int {
        let start = offset
        let length = try readVarint()
        guard length <= UInt64(end - offset) else {
            throw error("length \(length) runs past the end of the message (\(end - offset) bytes left)", at: start)
        }
        return Int(length)
    }

    /// Reads a length-delimited field as a reader over its bytes, and skips past it.
    mutating func subReader(context: String) throws(OnnxError) -> ProtoReader {
        let length = try readLength()
        let sub = ProtoReader(bytes: bytes, offset: offset, end: offset + length, context: context)
        offset += length
        return sub
    }

    mutating func readBytes() throws(OnnxError) -> [UInt8] {
        let length = try readLength()
        let result = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
        offset += length
        return result
    }

    /// Reads a length-delimited field as UTF-8 text (invalid sequences are repaired, not fatal).
    mutating func readString() throws(OnnxError) -> String {
        let length = try readLength()
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]), as: UTF8.self)
        offset += length
        return text
    }

    /// Calls `body` with the raw bytes of a length-delimited field.
    mutating func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(OnnxError) -> R) throws(OnnxError) -> R {
        let length = try readLength()
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        offset += length
        return try body(slice)
    }

    mutating func readInt64() throws(OnnxError) -> Int64 { Int64(bitPattern: try readVarint()) }

    /// Reads an int32 field (encoded as a sign-extended varint).
    mutating func readInt32() throws(OnnxError) -> Int32 {
        Int32(truncatingIfNeeded: Int64(bitPattern: try readVarint()))
    }

    mutating func readFloat() throws(OnnxError) -> Float { Float(bitPattern: try readFixed32()) }

    /// Appends a repeated varint field, packed or not.
    mutating func readRepeatedInt64(_ wireType: WireType, into values: inout [Int64]) throws(OnnxError) {
        switch wireType {
        case .varint:
            values.append(try readInt64())
        case .lengthDelimited:
            var sub = try subReader(context: context)
            while !sub.isAtEnd { values.append(try sub.readInt64()) }
        default:
            throw error("repeated int64 field with wire type \(wireType)")
        }
    }

    /// Appends a repeated int32 field, packed or not.
    mutating func readRepeatedInt32(_ wireType: WireType, into values: inout [Int32]) throws(OnnxError) {
        switch wireType {
        case .varint:
            values.append(try readInt32())
        case .lengthDelimited:
            var sub = try subReader(context: context)
            while !sub.isAtEnd { values.append(try sub.readInt32()) }
        default:
            throw error("repeated int32 field with wire type \(wireType)")
        }
    }

    /// Appends a repeated float field, packed or not.
    mutating func readRepeatedFloat(_ wireType: WireType, into values: inout [Float]) throws(OnnxError) {
        switch wireType {
        case .fixed32:
            values.append(try readFloat())
        case .lengthDelimited:
            let start = offset
            var sub = try subReader(context: context)
            guard (sub.end - sub.offset) % 4 == 0 else { throw error("packed floats not a multiple of 4 bytes", at: start) }
            values.reserveCapacity(values.count + (sub.end - sub.offset) / 4)
            while !sub.isAtEnd { values.append(try sub.readFloat()) }
        default:
            throw error("repeated float field with wire type \(wireType)")
        }
    }

    /// Appends a repeated double field, packed or not.
    mutating func readRepeatedDouble(_ wireType: WireType, into values: inout [Double]) throws(OnnxError) {
        switch wireType {
        case .fixed64:
            values.append(Double(bitPattern: try readFixed64()))
        case .lengthDelimited:
            let start = offset
            var sub = try subReader(context: context)
            guard (sub.end - sub.offset) % 8 == 0 else { throw error("packed doubles not a multiple of 8 bytes", at: start) }
            while !sub.isAtEnd { values.append(Double(bitPattern: try sub.readFixed64())) }
        default:
            throw error("repeated double field with wire type \(wireType)")
        }
    }

    /// Skips a field this decoder does not use.
    mutating func skip(_ wireType: WireType) throws(OnnxError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: offset += try readLength()
        }
    }

    /// Checks that a field has the wire type its schema says.
    func expect(_ wireType: WireType, _ expected: WireType, field: String) throws(OnnxError) {
        guard wireType == expected else {
            throw error("field \(field) has wire type \(wireType.rawValue), expected \(expected.rawValue)")
        }
    }
}

import OnnxRunner
import Testing

/// TensorProto decoding by hand-written wire bytes: packed and unpacked repeated fields, typed
/// fields and raw_data, and the element-count checks.
@Suite struct OnnxTensorProtoTests {
    /// Minimal protobuf writer for the test inputs.
    struct Writer {
        var bytes: [UInt8] = []
        mutating func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                bytes.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            bytes.append(UInt8(v))
        }
        mutating func key(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }
        mutating func int(_ field: Int, _ v: Int64) {
            key(field, 0)
            varint(UInt64(bitPattern: v))
        }
        mutating func bytesField(_ field: Int, _ payload: [UInt8]) {
            key(field, 2)
            varint(UInt64(payload.count))
            bytes += payload
        }
        mutating func float(_ field: Int, _ v: Float) {
            key(field, 5)
            withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
        }
    }

    static func packedVarints(_ values: [Int64]) -> [UInt8] {
        var w = Writer()
        for v in values { w.varint(UInt64(bitPattern: v)) }
        return w.bytes
    }

    @Test func int32TypedPackedWithUnpackedDims() throws {
        var w = Writer()
        w.int(1, 2)
        w.int(1, 3)  // dims unpacked: [2, 3]
        w.int(2, 6)  // INT32
        w.bytesField(5, Self.packedVarints([1, -2, 3, -4, 5, 2_147_483_647]))
        w.bytesField(8, Array("t".utf8))
        let value = try OnnxValue(serializedTensorProto: w.bytes)
        #expect(value.int64Tensor == Int64Tensor(shape: [2, 3], scalars: [1, -2, 3, -4, 5, 2_147_483_647]))
    }

    @Test func floatTypedUnpackedAndRawData() throws {
        var w = Writer()
        w.bytesField(1, Self.packedVarints([3]))  // dims packed
        w.int(2, 1)  // FLOAT
        for v: Float in [1.5, -2.25, 1e-3] { w.float(4, v) }
        #expect(try OnnxValue(serializedTensorProto: w.bytes).floatTensor?.scalars == [1.5, -2.25, 1e-3])

        var r = Writer()
        r.bytesField(1, Self.packedVarints([2]))
        r.int(2, 6)  // INT32 as raw little-endian
        r.bytesField(9, [0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x00, 0x00])
        #expect(try OnnxValue(serializedTensorProto: r.bytes).int64Tensor?.scalars == [-1, 7])
    }

    @Test func elementCountMismatchesAreMalformed() throws {
        var w = Writer()
        w.bytesField(1, Self.packedVarints([2, 2]))
        w.int(2, 1)
        w.bytesField(9, [0, 0, 128, 63])  // one float for four elements
        do {
            _ = try OnnxValue(serializedTensorProto: w.bytes, context: "case")
            Issue.record("accepted short raw_data")
        } catch {
            #expect(error.code == .malformed)
            #expect(error.message.contains("raw_data has 4 bytes"), "\(error)")
        }
        var s = Writer()
        s.int(2, 8)  // STRING
        #expect(throws: OnnxError.self) { try OnnxValue(serializedTensorProto: s.bytes) }
        var n = Writer()
        n.bytesField(1, Self.packedVarints([-1]))
        n.int(2, 1)
        #expect(throws: OnnxError.self) { try OnnxValue(serializedTensorProto: n.bytes) }
    }
}

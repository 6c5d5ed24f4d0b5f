import Foundation
import OnnxRunner
import Tensor
import Testing

/// Bad files are refused at load with a clear error (what and where), never a crash.
@Suite struct OnnxMalformedTests {
    static func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: OnnxFixtures.url(path)))
    }

    static func loadError(_ bytes: [UInt8]) -> OnnxError? {
        do {
            _ = try OnnxModel(serialized: bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func truncatedFilesAreMalformedAtEveryCut() throws {
        let model = try Self.bytes("tiny_classifier/model.onnx")
        var cuts = Array(stride(from: 1, to: model.count, by: max(1, model.count / 97)))
        cuts.append(model.count - 1)
        for cut in cuts {
            let error = Self.loadError(Array(model[..<cut]))
            #expect(error != nil, "cut at \(cut) loaded")
            if let error {
                #expect([.malformed, .invalidModel].contains(error.code), "cut at \(cut): \(error)")
            }
        }
        let error = try #require(Self.loadError(Array(model[..<(model.count / 2)])))
        #expect(error.code == .malformed)
        #expect(error.message.contains("byte offset"), "\(error)")
    }

    @Test func garbageIsRefused() {
        // A fixed pseudo-random byte stream (LCG) so failures reproduce.
        var state: UInt32 = 12345
        for length in [1, 2, 7, 64, 1000] {
            let garbage = (0..<length).map { _ -> UInt8 in
                state = state &* 1_664_525 &+ 1_013_904_223
                return UInt8(truncatingIfNeeded: state >> 24)
            }
            #expect(Self.loadError(garbage) != nil, "garbage of \(length) bytes loaded")
        }
        #expect(Self.loadError([])?.code == .malformed)
        #expect(Self.loadError(Array("hello, this is not an onnx file".utf8)) != nil)
    }

    @Test func badVarintsAndLengthsNameTheOffset() throws {
        // Field 7 (graph), length-delimited, length 200 but only 2 bytes follow.
        let longLength: [UInt8] = [0x3A, 0xC8, 0x01, 0x00, 0x00]
        let e1 = try #require(Self.loadError(longLength))
        #expect(e1.code == .malformed)
        #expect(e1.message.contains("byte offset 1"), "\(e1)")
        // ir_version varint with 11 continuation bytes.
        let longVarint: [UInt8] = [0x08] + [UInt8](repeating: 0xFF, count: 11)
        let e2 = try #require(Self.loadError(longVarint))
        #expect(e2.code == .malformed)
        #expect(e2.message.contains("varint"), "\(e2)")
        // Wire type 3 (groups) is refused.
        let e3 = try #require(Self.loadError([0x0B, 0x00]))
        #expect(e3.message.contains("wire type 3"), "\(e3)")
    }

    @Test func unknownOperatorIsRefusedAtLoadNamingNodeAndOp() throws {
        let error = try #require(Self.loadError(try Self.bytes("unknown_op.onnx")))
        #expect(error.code == .unsupportedOperator)
        #expect(error.message.contains("fancy_node"), "\(error)")
        #expect(error.message.contains("FancyOp"), "\(error)")
    }

    @Test func unsupportedAttributeIsRefusedAtLoad() throws {
        let error = try #require(Self.loadError(try Self.bytes("unsupported_attr.onnx")))
        #expect(error.code == .unsupportedAttribute)
        #expect(error.message.contains("cubic_resize"), "\(error)")
        #expect(error.message.contains("cubic"), "\(error)")
    }

    @Test func missingFileIsAnIOError() {
        #expect(throws: OnnxError.self) { try OnnxModel(contentsOf: OnnxFixtures.url("does-not-exist.onnx")) }
    }
}

extension OnnxMalformedTests {
    @Test func opsetOutsideTheSupportedRangeIsRefused() throws {
        let error = try #require(Self.loadError(try Self.bytes("old_opset.onnx")))
        #expect(error.code == .invalidModel)
        #expect(error.message.contains("opset 7"), "\(error)")
    }
}

extension OnnxMalformedTests {
    /// Extreme int64 and float values in shape arithmetic become errors, never crashes.
    @Test(arguments: ["hostile_slice", "hostile_range", "hostile_resize", "hostile_reshape", "hostile_expand"])
    func hostileValuesAreErrorsAtRun(_ name: String) throws {
        let model = try OnnxModel(serialized: try Self.bytes("\(name).onnx"))
        let shape = model.inputs[0].shape?.map { dim -> Int in
            if case .value(let v) = dim { return Int(v) }
            return 1
        } ?? [1]
        let input = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { Float($0) })
        do {
            let outputs = try model.run([model.inputNames[0]: .float(input)])
            // A clamped slice is a legal, small result; anything else must have thrown.
            #expect(name == "hostile_slice", "\(name) ran: \(outputs.mapValues(\.shape))")
        } catch {
            #expect(error.code == .invalidInput, "\(name): \(error)")
        }
    }
}

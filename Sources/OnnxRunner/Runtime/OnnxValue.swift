import Foundation
import Tensor

/// An int64 tensor: ONNX graphs compute shapes, indices and sizes in int64.
public struct Int64Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var scalars: [Int64]

    /// Wraps `scalars` (row-major); the count must equal the shape product.
    public init(shape: [Int], scalars: [Int64]) {
        precondition(scalars.count == shape.reduce(1, *), "Int64Tensor: shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }
}

/// A value flowing through an ONNX graph: a float32 `Tensor` or an int64 tensor.
///
/// These two element types cover detectors and small classifiers (activations in float32,
/// shape arithmetic in int64); other element types are refused at load.
public enum OnnxValue: Sendable {
    case float(Tensor)
    case int64(Int64Tensor)

    public var shape: [Int] {
        switch self {
        case .float(let t): t.shape
        case .int64(let t): t.shape
        }
    }

    /// The ONNX element type of this value.
    public var dataType: OnnxDataType {
        switch self {
        case .float: .float
        case .int64: .int64
        }
    }

    /// The float tensor, or nil for an int64 value.
    public var floatTensor: Tensor? {
        if case .float(let t) = self { return t }
        return nil
    }

    /// The int64 tensor, or nil for a float value.
    public var int64Tensor: Int64Tensor? {
        if case .int64(let t) = self { return t }
        return nil
    }

    /// Decodes a serialized `TensorProto` (the `.pb` files of ONNX test data sets).
    public init(serializedTensorProto bytes: [UInt8], context: String = "TensorProto") throws(OnnxError) {
        let decoded: Result<OnnxTensorProto, OnnxError> = bytes.withUnsafeBytes { buffer in
            do throws(OnnxError) {
                var reader = ProtoReader(bytes: buffer, context: context)
                var proto = OnnxTensorProto()
                try proto.decode(&reader)
                return .success(proto)
            } catch {
                return .failure(error)
            }
        }
        try self.init(proto: try decoded.get(), context: context)
    }

    /// Converts a decoded `TensorProto` (initializer, constant or test data) into a value.
    ///
    /// Accepts float, double (narrowed), int64, int32, uint8/int8/bool/int16/uint16 (widened)
    /// from `raw_data` or the typed fields; checks the element count against the dims.
    public init(proto: OnnxTensorProto, context: String) throws(OnnxError) {
        let what = "\(context) '\(proto.name)' (TensorProto at byte offset \(proto.fileOffset))"
        guard !proto.isExternal else {
            throw OnnxError(.unsupportedType, "\(what) stores its data in an external file, which is not supported")
        }
        var shape: [Int] = []
        var count = 1
        for d in proto.dims {
            guard d >= 0, d <= Int64(Int32.max) else { throw OnnxError(.malformed, "\(what) has invalid dimension \(d) in dims \(proto.dims)") }
            shape.append(Int(d))
            let (m, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, m <= 1 << 34 else { throw OnnxError(.malformed, "\(what) has too many elements for dims \(proto.dims)") }
            count = m
        }
        guard let type = OnnxDataType(rawValue: proto.dataType) else {
            throw OnnxError(.unsupportedType, "\(what) has unknown data_type \(proto.dataType)")
        }

        func check(_ actual: Int, _ field: String) throws(OnnxError) {
            guard actual == count else {
                throw OnnxError(.malformed, "\(what): \(field) holds \(actual) elements but dims \(proto.dims) need \(count)")
            }
        }
        func rawElements<T>(_: T.Type, size: Int) throws(OnnxError) -> [T]? {
            guard let raw = proto.rawData else { return nil }
            guard raw.count == count * size else {
                throw OnnxError(.malformed, "\(what): raw_data has \(raw.count) bytes but dims \(proto.dims) of \(type) need \(count * size)")
            }
            return raw.withUnsafeBytes { buffer in
                (0..<count).map { buffer.loadUnaligned(fromByteOffset: $0 * size, as: T.self) }
            }
        }
        func widened<T: BinaryInteger>(_: T.Type, size: Int) throws(OnnxError) -> [Int64] {
            if let values = try rawElements(T.self, size: size) { return values.map { Int64($0) } }
            try check(proto.int32Data.count, "int32_data")
            return proto.int32Data.map { Int64($0) }
        }

        switch type {
        case .float:
            let values: [Float]
            if let raw = try rawElements(UInt32.self, size: 4) {
                values = raw.map { Float(bitPattern: UInt32(littleEndian: $0)) }
            } else {
                try check(proto.floatData.count, "float_data")
                values = proto.floatData
            }
            self = .float(Tensor(shape: shape, scalars: values))
        case .double:
            let values: [Float]
            if let raw = try rawElements(UInt64.self, size: 8) {
                values = raw.map { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
            } else {
                try check(proto.doubleData.count, "double_data")
                values = proto.doubleData.map { Float($0) }
            }
            self = .float(Tensor(shape: shape, scalars: values))
        case .int64:
            let values: [Int64]
            if let raw = try rawElements(Int64.self, size: 8) {
                values = raw.map { Int64(littleEndian: $0) }
            } else {
                try check(proto.int64Data.count, "int64_data")
                values = proto.int64Data
            }
            self = .int64(Int64Tensor(shape: shape, scalars: values))
        case .int32:
            self = .int64(Int64Tensor(shape: shape, scalars: try widened(Int32.self, size: 4)))
        case .int16:
            self = .int64(Int64Tensor(shape: shape, scalars: try widened(Int16.self, size: 2)))
        case .uint16:
            self = .int64(Int64Tensor(shape: shape, scalars: try widened(UInt16.self, size: 2)))
        case .int8:
            self = .int64(Int64Tensor(shape: shape, scalars: try widened(Int8.self, size: 1)))
        case .uint8, .bool:
            self = .int64(Int64Tensor(shape: shape, scalars: try widened(UInt8.self, size: 1)))
        default:
            throw OnnxError(.unsupportedType, "\(what) has element type \(type), which the runner does not support")
        }
    }
}

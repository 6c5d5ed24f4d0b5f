/// Plain-value mirrors of the ONNX protobuf messages the runner reads (`onnx.proto`, IR v3+).
///
/// Only fields the runner needs are kept; everything else is skipped by field number. Subgraph
/// attributes (`If`, `Loop`) are recorded as present but not decoded, which also bounds the
/// recursion depth on hostile input.

/// `TensorProto.DataType` values the runner knows by name.
public enum OnnxDataType: Int32, Sendable, CustomStringConvertible {
    case undefined = 0, float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7
    case string = 8, bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13
    case complex64 = 14, complex128 = 15, bfloat16 = 16

    public var description: String {
        let names = ["UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL",
                     "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"]
        return names[Int(rawValue)]
    }

    /// Name of a raw `data_type` value, also for values outside this enum.
    static func name(_ raw: Int32) -> String { OnnxDataType(rawValue: raw)?.description ?? "type \(raw)" }
}

/// `OperatorSetIdProto`: one opset the model was written against.
public struct OnnxOpsetImport: Sendable, Equatable {
    public var domain: String
    public var version: Int64
}

/// `ModelProto`.
public struct OnnxModelProto: Sendable {
    public var irVersion: Int64 = 0
    public var opsetImports: [OnnxOpsetImport] = []
    public var producerName = ""
    public var producerVersion = ""
    public var graph: OnnxGraphProto?
}

/// `GraphProto`.
public struct OnnxGraphProto: Sendable {
    public var name = ""
    public var nodes: [OnnxNodeProto] = []
    public var initializers: [OnnxTensorProto] = []
    public var inputs: [OnnxValueInfoProto] = []
    public var outputs: [OnnxValueInfoProto] = []
    public var valueInfo: [OnnxValueInfoProto] = []
    /// Number of sparse initializers (not supported; refused at load when non-zero).
    public var sparseInitializerCount = 0
}

/// `NodeProto`.
public struct OnnxNodeProto: Sendable {
    public var name = ""
    public var opType = ""
    public var domain = ""
    public var inputs: [String] = []
    public var outputs: [String] = []
    public var attributes: [OnnxAttributeProto] = []

    /// A name for messages: the node name, or its first output when unnamed.
    public var displayName: String { name.isEmpty ? "<unnamed \(opType) -> \(outputs.first ?? "?")>" : name }

    public func attribute(_ name: String) -> OnnxAttributeProto? { attributes.first { $0.name == name } }
}

/// `AttributeProto`.
public struct OnnxAttributeProto: Sendable {
    /// `AttributeProto.AttributeType`.
    public enum Kind: Int32, Sendable {
        case undefined = 0, float = 1, int = 2, string = 3, tensor = 4, graph = 5
        case floats = 6, ints = 7, strings = 8, tensors = 9, graphs = 10
        case sparseTensor = 11, sparseTensors = 12, typeProto = 13, typeProtos = 14
    }

    public var name = ""
    public var kind: Kind = .undefined
    public var f: Float = 0
    public var i: Int64 = 0
    public var s: [UInt8] = []
    public var t: OnnxTensorProto?
    public var floats: [Float] = []
    public var ints: [Int64] = []
    public var strings: [[UInt8]] = []
    public var tensors: [OnnxTensorProto] = []
    /// Whether a subgraph (`g` or `graphs`) was present; its content is not decoded.
    public var hasGraph = false
    /// Set for attributes of function bodies that refer to a caller attribute (unsupported).
    public var refAttrName = ""

    /// The `s` field as text.
    public var stringValue: String { String(decoding: s, as: UTF8.self) }
}

/// `TensorProto`: dims, element type and data in whichever field the writer used.
public struct OnnxTensorProto: Sendable {
    public var name = ""
    public var dims: [Int64] = []
    public var dataType: Int32 = 0
    public var floatData: [Float] = []
    public var int32Data: [Int32] = []
    public var int64Data: [Int64] = []
    public var doubleData: [Double] = []
    public var rawData: [UInt8]?
    /// `data_location == EXTERNAL` or `external_data` present (unsupported).
    public var isExternal = false
    /// Byte offset of the message in the file, for error messages.
    public var fileOffset = 0
}

/// `ValueInfoProto` restricted to tensor types.
public struct OnnxValueInfoProto: Sendable {
    /// One dimension of a declared shape.
    public enum Dimension: Sendable, Equatable {
        case value(Int64)
        case parameter(String)
        case unknown
    }

    public var name = ""
    /// `TypeProto.Tensor.elem_type`, when the value is a tensor.
    public var elementType: Int32?
    /// Declared shape, when present.
    public var shape: [Dimension]?
}

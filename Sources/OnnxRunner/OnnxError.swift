/// The one error type of the ONNX runner: a malformed file, an unsupported model, or bad inputs.
///
/// Messages say what went wrong and where (file path, byte offset, node name, tensor name), so
/// a refused model can be diagnosed without a debugger. Load-time checks catch everything that
/// can be known before running; `run` only throws for input mismatches.
public struct OnnxError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Broad category of the failure; extensible.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The bytes are not a well-formed protobuf message (truncated, bad varint, bad length).
        public static let malformed = Code("malformed")
        /// The file could not be read.
        public static let io = Code("io")
        /// Well-formed, but not a model this runner accepts (missing graph, bad references, opset).
        public static let invalidModel = Code("invalidModel")
        /// An operator (or operator domain) the runner does not implement.
        public static let unsupportedOperator = Code("unsupportedOperator")
        /// A known operator with an attribute value or input layout the runner does not implement.
        public static let unsupportedAttribute = Code("unsupportedAttribute")
        /// A tensor element type the runner does not implement.
        public static let unsupportedType = Code("unsupportedType")
        /// Inputs given to `run` do not match the graph, or shapes disagree inside an operator.
        public static let invalidInput = Code("invalidInput")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "ONNX \(code): \(message)" }
}

/// The Tensor module's error: thrown only where data comes from outside (files, requests).
///
/// Shape errors in op calls are programmer errors and stop with a `precondition` instead.
public struct TensorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// An element count or shape does not match another.
        public static let shapeMismatch = Code("shapeMismatch")
        /// A shape is negative or overflows.
        public static let invalidShape = Code("invalidShape")
        /// Any other invalid argument.
        public static let invalidArgument = Code("invalidArgument")
        public var description: String { name }
    }

    public var code: Code
    /// Human-readable detail naming the tensors, shapes or values involved.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Tensor errors come from bad data; retrying with the same input cannot help.
    public var isRetriable: Bool { false }

    public var description: String { "TensorError.\(code): \(message)" }
}

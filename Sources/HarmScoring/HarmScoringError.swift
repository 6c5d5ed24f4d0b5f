/// The one error type of harm scoring: a scorer's model could not be loaded or run, or its
/// input was unusable. Messages say what and where (file path, tensor name, image size).
public struct HarmScoringError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Broad category of the failure; extensible.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A model file is missing, unreadable, malformed or not the expected model.
        public static let modelLoad = Code("modelLoad")
        /// Running a model failed (shapes or values the model cannot take).
        public static let inference = Code("inference")
        /// An image (size, channel count, byte count) that a scorer cannot take.
        public static let invalidImage = Code("invalidImage")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "harm scoring \(code): \(message)" }
}

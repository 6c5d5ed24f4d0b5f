/// The Diffusion module's error: bad model files, configs and inputs (never a crash).
///
/// `code` says what kind of problem it is and is extensible (add a `static let` per new kind);
/// `message` says what and where: the file, the tensor name, the byte offset, the config key.
/// Messages never contain prompt text.
public struct DiffusionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        /// Declares a code; the name appears in `description`.
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A file could not be opened, read, mapped or written.
        public static let io = Code("io")
        /// A safetensors file breaks the format (header size, JSON, offsets, coverage).
        public static let invalidSafeTensors = Code("invalidSafeTensors")
        /// A tensor dtype the reader does not know or cannot convert to float32.
        public static let unsupportedDType = Code("unsupportedDType")
        /// A weight the model needs is not in the checkpoint.
        public static let missingTensor = Code("missingTensor")
        /// A checkpoint tensor has a different shape than the model expects.
        public static let shapeMismatch = Code("shapeMismatch")
        /// A checkpoint holds tensors the model does not know.
        public static let unknownTensor = Code("unknownTensor")
        /// A config.json / tokenizer file is missing, malformed or has unsupported values.
        public static let invalidConfig = Code("invalidConfig")
        /// An input (token ids, batch) does not fit the model.
        public static let invalidInput = Code("invalidInput")
    }

    public var code: Code
    /// Human-readable detail: what and where.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Diffusion errors come from files and inputs; retrying the same thing cannot help.
    public var isRetriable: Bool { false }

    public var description: String { "DiffusionError.\(code): \(message)" }
}

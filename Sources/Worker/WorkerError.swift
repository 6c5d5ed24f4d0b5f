/// Errors of the worker module: configuration and start-up problems, with what and where.
public struct WorkerError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A configuration value is missing or invalid.
        public static let invalidConfiguration = Code(rawValue: "invalid_configuration")
        /// No image generator can be built (no model configured, or the engine is unavailable).
        public static let noGenerator = Code(rawValue: "no_generator")
        /// A dependency (PostgreSQL, Kafka) could not be reached at start-up.
        public static let dependencyUnavailable = Code(rawValue: "dependency_unavailable")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

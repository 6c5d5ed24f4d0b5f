/// Errors of the guidance module: a request whose mitigation parameters cannot be used, or a
/// configuration file that cannot be read. Messages say what and where.
public enum GuidanceError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidRequest(String)
    case invalidConfiguration(file: String, String)
    case invalidOverlay(file: String, String)

    public var description: String {
        switch self {
        case .invalidRequest(let message): "invalid mitigations: \(message)"
        case .invalidConfiguration(let file, let message): "\(file): \(message)"
        case .invalidOverlay(let file, let message): "SafeGen overlay \(file): \(message)"
        }
    }
}

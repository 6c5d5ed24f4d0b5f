/// A console failure with a message fit for the command line or an error page.
public enum ConsoleError: Error, CustomStringConvertible, Sendable {
    /// Input that cannot be used (a form field, a filter, a user name, a password hash).
    case invalidInput(String)
    /// Something the console needs is missing or wrong (TLS files, the database schema).
    case configuration(String)

    public var description: String {
        switch self {
        case .invalidInput(let message), .configuration(let message): message
        }
    }
}

/// What a console user may do.
public enum ConsoleRole: String, Sendable, CaseIterable, Codable {
    /// Reads decisions, images of allowed and censored decisions, charts and verdicts.
    case analyst
    /// What an analyst may, plus images of blocked decisions and recording verdicts.
    case reviewer

    /// The database role a request of this user runs as (`SET LOCAL ROLE`, migration 005).
    var databaseRole: String {
        switch self {
        case .analyst: "chaperone_analyst"
        case .reviewer: "chaperone_reviewer"
        }
    }
}

/// A reviewer's verdict on a censored or blocked decision.
public enum Verdict: String, Sendable, CaseIterable, Codable {
    /// The decision was right.
    case uphold
    /// The decision was wrong: a false positive of the scorer and category behind it.
    case overturn
}

/// The one error type of the audit store: connection, query, value, decoding and migration
/// failures.
///
/// `description` says what failed and where (the operation, a column name, a migration file,
/// the SQLSTATE) but never the values bound to a query, so prompts and other request data
/// cannot leak into logs. The server's own message, which may quote data, is kept apart in
/// `serverMessage` and appears only in `debugDescription`.
public struct AuditStoreError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is. Extensible: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String

        /// The server could not be reached or refused the connection.
        public static let connectionFailed = Code(name: "connectionFailed")
        /// An open connection broke (server gone, backend terminated, network error).
        public static let connectionLost = Code(name: "connectionLost")
        /// The server did not answer within the client-side limit (a stopped or overloaded server,
        /// a silent network); the connection was given up and the next call opens a new one.
        public static let timedOut = Code(name: "timedOut")
        /// The server rejected a statement; see `sqlState`.
        public static let queryFailed = Code(name: "queryFailed")
        /// A value cannot be stored as given (for example text holding a NUL byte).
        public static let invalidValue = Code(name: "invalidValue")
        /// A column held something the requested Swift type cannot represent, or was missing.
        public static let decodingFailed = Code(name: "decodingFailed")
        /// The migrations folder is unreadable or its file names are malformed, gapped or duplicated.
        public static let invalidMigrations = Code(name: "invalidMigrations")
        /// An applied migration's file changed, vanished or disagrees with the database.
        public static let migrationMismatch = Code(name: "migrationMismatch")
        /// A setting (URL, path, limit) is unusable.
        public static let invalidConfiguration = Code(name: "invalidConfiguration")
        /// The API was used in a way it does not allow (for example a session used after its scope).
        public static let misuse = Code(name: "misuse")

        public var description: String { name }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A safe explanation naming the operation and place, never bound values.
    public var message: String
    /// The five-character SQLSTATE reported by the server, when there was one.
    public var sqlState: String?
    /// The constraint a statement violated, when the server named one (a schema name, never data).
    public var constraint: String?
    /// The server's (or libpq's) own message; may quote data, so it is kept out of `description`.
    public var serverMessage: String?
    /// Where in this module the error was raised.
    public var file: String
    public var line: Int

    public init(
        _ code: Code, _ message: String, sqlState: String? = nil, serverMessage: String? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.serverMessage = serverMessage
        self.file = file
        self.line = line
    }

    /// True when trying again later may succeed: connection loss or failure, no answer in time,
    /// serialization failure, deadlock, server shutdown or restart, too many connections,
    /// statement timeout.
    public var isRetriable: Bool {
        if code == .connectionFailed || code == .connectionLost || code == .timedOut { return true }
        guard let state = sqlState else { return false }
        return state.hasPrefix("08") || Self.retriableStates.contains(state)
    }

    /// True when the database refuses the values of this statement, so the same values fail
    /// every time: data exceptions (SQLSTATE class 22, such as 22P05 for `\u0000` in jsonb),
    /// integrity violations other than a duplicate key (class 23: check, not-null, foreign key),
    /// program limits (class 54, such as an index row too large) and values refused before
    /// sending (`invalidValue`). Deployment faults (missing tables, privileges, a read-only
    /// database) are not: they fail every statement alike and are fixed by an operator.
    public var isPermanentForData: Bool {
        if code == .invalidValue { return true }
        guard let state = sqlState, !isRetriable else { return false }
        if state == "23505" { return false }
        return state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("54")
    }

    static let retriableStates: Set<String> = [
        "40001",  // serialization_failure
        "40P01",  // deadlock_detected
        "57P01",  // admin_shutdown
        "57P02",  // crash_shutdown
        "57P03",  // cannot_connect_now
        "53300",  // too_many_connections
        "57014",  // query_canceled (statement_timeout)
        "55P03",  // lock_not_available
    ]

    public var description: String {
        var text = "AuditStoreError.\(code): \(message)"
        if let sqlState {
            text += " (SQLSTATE \(sqlState)"
            if let name = Self.conditionNames[sqlState] { text += " \(name)" }
            text += ")"
        }
        if let constraint { text += " on constraint \(constraint)" }
        if isRetriable { text += " [retriable]" }
        return text
    }

    public var debugDescription: String {
        var text = description
        if let serverMessage { text += "; server said: \(serverMessage)" }
        return text + " at \(file):\(line)"
    }

    /// Names of the conditions this project meets most, to make descriptions readable without
    /// quoting the server's message.
    static let conditionNames: [String: String] = [
        "08000": "connection_exception", "08003": "connection_does_not_exist",
        "08006": "connection_failure", "08001": "sqlclient_unable_to_establish_sqlconnection",
        "22P02": "invalid_text_representation", "22P05": "untranslatable_character",
        "22021": "character_not_in_repertoire", "23502": "not_null_violation",
        "23505": "unique_violation", "23514": "check_violation", "25006": "read_only_sql_transaction",
        "25P02": "in_failed_sql_transaction",
        "3D000": "invalid_catalog_name", "40001": "serialization_failure", "40P01": "deadlock_detected",
        "42501": "insufficient_privilege", "42601": "syntax_error", "42703": "undefined_column",
        "42P01": "undefined_table", "42883": "undefined_function", "53300": "too_many_connections",
        "55P03": "lock_not_available", "57014": "query_canceled", "57P01": "admin_shutdown",
        "57P02": "crash_shutdown", "57P03": "cannot_connect_now", "P0001": "raise_exception",
    ]
}

import Dispatch
import Logging

/// One PostgreSQL connection, used through async calls.
///
/// libpq is blocking, so each `Connection` owns a serial dispatch queue and runs every libpq
/// call there, never on Swift's cooperative thread pool; callers `await` the result. Calls are
/// served one at a time in submission order. The libpq handle is closed (`PQfinish`) when the
/// connection is closed or deinitialised.
///
/// A broken connection (server restarted, backend terminated) is reopened on the next call.
/// The call that meets the break throws a retriable `connectionLost` error, unless it was made
/// with `retryOnConnectionLoss: true`, which reconnects and runs it once more: use that only
/// for work that is safe to repeat (reads, idempotent inserts, whole transactions).
///
/// No call waits for the server without bound (see ``ConnectionSettings``): a server that stops
/// answering makes the call throw a retriable `timedOut` error once the session's statement
/// timeout and a grace second have passed, and the connection is given up and reopened on the
/// next call. A timed-out call is never retried in place: a silent server would only make the
/// caller wait twice.
public final class Connection: @unchecked Sendable {
    // @unchecked: `handle` is only read or written on `queue`.
    private let queue: DispatchQueue
    private var handle: PQConnection?
    private var isClosed = false
    private let url: String
    private let overrides: [(String, String)]
    private let settings: ConnectionSettings
    private let logger: Logger

    private init(url: String, overrides: [(String, String)], settings: ConnectionSettings, logger: Logger) {
        self.url = url
        self.overrides = overrides
        self.settings = settings
        self.logger = logger
        self.queue = DispatchQueue(label: "chaperone.audit.connection")
    }

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - url: a `postgresql://user@host:port/database` URL or a libpq `key=value` string.
    ///     It may hold a password: it is never logged nor put in errors.
    ///   - overrides: libpq keywords that win over the URL's, such as `["dbname": "other"]`.
    ///   - settings: timeouts and keepalives for every session this connection opens; the URL
    ///     wins for what it sets itself. Default: ``ConnectionSettings/init(connectTimeout:statementTimeout:tcpUserTimeout:keepalives:)``'s.
    ///   - logger: where reconnects are reported.
    public static func connect(
        url: String, overrides: [String: String] = [:], settings: ConnectionSettings = ConnectionSettings(),
        logger: Logger = Logger(label: "chaperone.audit")
    ) async throws -> Connection {
        let connection = Connection(
            url: url, overrides: overrides.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, settings: settings, logger: logger)
        try await connection.onQueue { _ in }
        return connection
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ query: SQLQuery, retryOnConnectionLoss: Bool = false) async throws -> SQLRows {
        try await onQueue(retry: retryOnConnectionLoss) { session in try session.query(query) }
    }

    /// Runs `body` inside `BEGIN … COMMIT` (rolled back when `body` throws).
    ///
    /// `body` runs synchronously on the connection's queue, so no other call can interleave
    /// with the transaction's statements; it must not keep the session beyond its return.
    public func transaction<Value: Sendable>(
        retryOnConnectionLoss: Bool = false, _ body: @escaping @Sendable (SQLSession) throws -> Value
    ) async throws -> Value {
        try await onQueue(retry: retryOnConnectionLoss) { session in try session.transaction(body) }
    }

    /// Runs `body` with exclusive use of the connection, outside any transaction: for session
    /// settings such as `SET ROLE`, advisory locks, or several transactions in a row.
    public func withSession<Value: Sendable>(
        retryOnConnectionLoss: Bool = false, _ body: @escaping @Sendable (SQLSession) throws -> Value
    ) async throws -> Value {
        try await onQueue(retry: retryOnConnectionLoss, body)
    }

    /// The server process id of the current connection (for diagnostics and fault tests).
    public func backendPID() async throws -> Int32 {
        try await onQueue { session in session.connection.backendPID }
    }

    /// Drops the current session; the next call opens a new one. For a session whose settings
    /// went stale, such as one that began while the database was read-only
    /// (`default_transaction_read_only` applies to sessions that start after it changed).
    public func reset() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.handle = nil
                continuation.resume()
            }
        }
    }

    /// Closes the connection; later calls throw `misuse`.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.handle = nil
                self.isClosed = true
                continuation.resume()
            }
        }
    }

    /// Runs `work` on the queue with a live handle, reconnecting first when needed.
    private func onQueue<Value: Sendable>(
        retry: Bool = false, _ work: @escaping @Sendable (SQLSession) throws -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.runLocked(retry: retry, work) })
            }
        }
    }

    /// Called on `queue` only.
    private func runLocked<Value>(retry: Bool, _ work: (SQLSession) throws -> Value) throws -> Value {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let connection = try liveHandle()
                let session = SQLSession(connection: connection)
                defer { session.isValid = false }
                return try work(session)
            } catch let error as AuditStoreError where error.code == .timedOut {
                handle = nil
                logger.warning("audit database did not answer in time; connection given up", metadata: ["error": "\(error)"])
                throw error
            } catch let error as AuditStoreError where error.code == .connectionLost {
                handle = nil
                guard retry, attempt < 2 else { throw error }
                logger.warning("audit database connection lost; reconnecting and retrying once")
            }
        }
    }

    /// Called on `queue` only.
    private func liveHandle() throws -> PQConnection {
        guard !isClosed else { throw AuditStoreError(.misuse, "the connection was closed") }
        if let handle, handle.isOK { return handle }
        if handle != nil { logger.warning("audit database connection broken; reconnecting") }
        handle = nil
        let fresh = try PQConnection(url: url, overrides: overrides, settings: settings)
        handle = fresh
        return fresh
    }
}

/// Exclusive, synchronous use of a connection inside `Connection.transaction` or
/// `Connection.withSession`. Valid only until the closure that received it returns.
public final class SQLSession {
    let connection: PQConnection
    fileprivate(set) var isValid = true

    init(connection: PQConnection) {
        self.connection = connection
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ query: SQLQuery) throws -> SQLRows {
        guard isValid else {
            throw AuditStoreError(.misuse, "an SQLSession was used after its closure returned")
        }
        return try connection.execute(sql: query.sql, binds: query.binds)
    }

    /// Runs `body` with no statement timeout, neither on the server nor while the client waits
    /// for it, then restores the session's: for work that may rightly take long and is watched
    /// by an operator, such as migrations and the advisory lock that makes migrators take turns.
    public func withoutStatementTimeout<Value>(_ body: (SQLSession) throws -> Value) throws -> Value {
        guard isValid else {
            throw AuditStoreError(.misuse, "an SQLSession was used after its closure returned")
        }
        try connection.setStatementTimeout(milliseconds: 0)
        let value: Value
        do {
            value = try body(self)
        } catch {
            if connection.isOK { try? connection.resetStatementTimeout() }
            throw error
        }
        try connection.resetStatementTimeout()
        return value
    }

    /// Runs `body` inside `BEGIN … COMMIT`, rolling back when it throws.
    public func transaction<Value>(_ body: (SQLSession) throws -> Value) throws -> Value {
        try query("BEGIN")
        do {
            let value = try body(self)
            try query("COMMIT")
            return value
        } catch {
            if connection.isOK, connection.inTransaction { _ = try? query("ROLLBACK") }
            throw error
        }
    }
}

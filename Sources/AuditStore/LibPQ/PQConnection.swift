import CLibPQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one libpq connection handle (`PGconn`) and makes bounded calls on it.
///
/// Not thread-safe and not `Sendable`: `Connection` keeps it on its own serial queue, so every
/// call here runs off Swift's cooperative thread pool. Every wait for the server is a `poll()`
/// with a deadline over libpq's asynchronous API (`PQconnectPoll`, `PQsendQuery*`, `PQflush`,
/// `PQconsumeInput`), never a blocking read: a server that stops answering (a stopped process,
/// a frozen host) cannot enforce its own `statement_timeout`, so the client bounds the wait
/// itself, gives the connection up (``isOK`` turns false) and throws `timedOut`. The socket is
/// in non-blocking mode, so `deinit` (`PQfinish`) never blocks on a silent server either.
final class PQConnection {
    private let handle: OpaquePointer
    /// Set when a wait ran out: the connection is abandoned mid-statement and must not be reused.
    private var isAbandoned = false
    /// The longest wait for an answer to one statement: the session's `statement_timeout` plus
    /// `ConnectionSettings.responseGrace`; nil while the session has no statement timeout.
    private(set) var responseTimeout: Duration?

    /// Connects with `url` (a `postgresql://` URL or a `key=value` conninfo string); `overrides`
    /// are further libpq keywords that win over the URL's (for example `dbname`). `settings`
    /// give the timeouts and keepalives the URL does not set itself.
    init(url: String, overrides: [(String, String)], settings: ConnectionSettings = ConnectionSettings()) throws {
        let given = PQConnection.keywords(of: url).merging(overrides) { _, new in new }
        // Defaults first, then the URL (expanded), then the overrides: later keywords win.
        var pairs: [(String, String)] = [("fallback_application_name", "chaperone")] + settings.libpqKeywords + [("dbname", url)] + overrides
        if let prefix = settings.optionsPrefix {
            // The URL's own options come after ours, so a statement_timeout there wins.
            pairs.append(("options", [prefix, given["options"]].compactMap { $0 }.joined(separator: " ")))
        }
        let connectLimit: Duration?
        if let text = given["connect_timeout"] {
            // As libpq reads it: whole seconds, 0 or less (or garbage) for no limit, at least 2.
            let seconds = Int(text.filter { $0 != " " }) ?? 0
            connectLimit = seconds > 0 ? .seconds(max(2, seconds)) : nil
        } else {
            connectLimit = settings.connectTimeout
        }
        let deadline = connectLimit.map { ContinuousClock.now + $0 }

        let started: OpaquePointer? = withCStringArray(pairs.map(\.0)) { keywords in
            withCStringArray(pairs.map(\.1)) { values in
                PQconnectStartParams(keywords, values, 1)
            }
        }
        guard let handle = started else {
            throw AuditStoreError(.connectionFailed, "libpq could not allocate a connection")
        }
        do {
            try PQConnection.finishConnecting(handle, deadline: deadline, limit: connectLimit)
        } catch {
            PQfinish(handle)
            throw error
        }
        self.handle = handle
        // Notices ("already exists, skipping") are expected during migrations: don't print them.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        guard PQsetnonblocking(handle, 1) == 0 else {
            throw AuditStoreError(.connectionFailed, "could not put the PostgreSQL connection in non-blocking mode")
        }
        // Setting the session up is part of connecting: it gets what is left of the connect limit.
        responseTimeout = deadline.map { max($0 - ContinuousClock.now, .milliseconds(1)) }
        // Fixed session formats so decoding never depends on server or role settings. The
        // encoding is SET here rather than with PQsetClientEncoding, which would block (it uses
        // PQexec); libpq follows the change from the server's ParameterStatus message all the same.
        _ = try execute(
            sql: "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET bytea_output = 'hex'", binds: [])
        try readStatementTimeout()
    }

    deinit {
        PQfinish(handle)
    }

    /// True while libpq considers the connection usable and no wait on it ran out.
    var isOK: Bool { !isAbandoned && PQstatus(handle) == CONNECTION_OK }

    /// True when a transaction block is open (or failed) on this connection.
    var inTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// The server process serving this connection.
    var backendPID: Int32 { PQbackendPID(handle) }

    /// Sets the session's `statement_timeout` (0: none) and the client-side wait with it.
    func setStatementTimeout(milliseconds: Int64) throws {
        _ = try execute(sql: "SET statement_timeout = \(max(0, milliseconds))", binds: [])
        try readStatementTimeout()
    }

    /// Returns the session's `statement_timeout` to its value at connection start (the
    /// configured one, or the URL's) and the client-side wait with it. A failure abandons the
    /// connection, so it can never stay without a bound.
    func resetStatementTimeout() throws {
        do {
            _ = try execute(sql: "RESET statement_timeout", binds: [])
            try readStatementTimeout()
        } catch {
            isAbandoned = true
            throw error
        }
    }

    /// Reads the session's effective `statement_timeout` (in milliseconds, whatever set it: the
    /// `options` of the connection, the role or database, a `SET`) and derives the client-side wait.
    private func readStatementTimeout() throws {
        let rows = try execute(sql: "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'", binds: [])
        let milliseconds = rows.rows.first?.values.first.flatMap { $0.flatMap { Int64($0) } } ?? 0
        responseTimeout = milliseconds > 0 ? .milliseconds(milliseconds) + ConnectionSettings.responseGrace : nil
    }

    /// Runs one statement. With no binds the text may hold several statements (simple query
    /// protocol); with binds it must be one statement (extended protocol, text parameters).
    ///
    /// Waits at most ``responseTimeout`` for the server; when that runs out the connection is
    /// abandoned and `timedOut` is thrown.
    func execute(sql: String, binds: [SQLBind]) throws -> SQLRows {
        for (i, bind) in binds.enumerated() {
            if case .text(let text) = bind, let offset = text.utf8.firstIndex(of: 0) {
                // libpq sends text parameters as C strings: a NUL would silently cut the value.
                let byteOffset = text.utf8.distance(from: text.utf8.startIndex, to: offset)
                throw AuditStoreError(
                    .invalidValue,
                    "parameter $\(i + 1) contains a NUL byte at UTF-8 byte offset \(byteOffset); PostgreSQL text cannot hold NUL")
            }
        }
        guard !isAbandoned else {
            throw AuditStoreError(.connectionLost, "the connection to PostgreSQL was given up after a timeout")
        }
        let sent: Int32
        if binds.isEmpty {
            sent = PQsendQuery(handle, sql)
        } else {
            sent = withCStringArray(binds.map { bind -> String? in
                if case .text(let text) = bind { return text }
                return nil
            }) { values in
                PQsendQueryParams(handle, sql, Int32(binds.count), nil, values, nil, nil, 0)
            }
        }
        guard sent == 1 else {
            throw lostOrFailed(sqlState: nil, serverMessage: PQConnection.text(PQerrorMessage(handle)))
        }
        let deadline = responseTimeout.map { ContinuousClock.now + $0 }
        // Like PQexec: the first failed statement's result, else the last statement's.
        var kept: OpaquePointer?
        do {
            try flush(until: deadline)
            while let result = try nextResult(until: deadline) {
                let status = PQresultStatus(result)
                if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                    PQclear(result)
                    isAbandoned = true
                    throw AuditStoreError(.misuse, "COPY is not supported on audit store connections")
                }
                if let previous = kept, PQConnection.isFailure(PQresultStatus(previous)) {
                    PQclear(result)
                } else {
                    if let previous = kept { PQclear(previous) }
                    kept = result
                }
            }
        } catch {
            if let kept { PQclear(kept) }
            throw error
        }
        return try consume(kept)
    }

    /// Sends what libpq has queued, reading meanwhile so the server never stalls on a full pipe.
    private func flush(until deadline: ContinuousClock.Instant?) throws {
        while true {
            let pending = PQflush(handle)
            if pending == 0 { return }
            if pending < 0 { throw lostOrFailed(sqlState: nil, serverMessage: PQConnection.text(PQerrorMessage(handle))) }
            let events = try wait(read: true, write: true, until: deadline)
            if events & Int16(POLLIN) != 0, PQconsumeInput(handle) == 0 {
                throw lostOrFailed(sqlState: nil, serverMessage: PQConnection.text(PQerrorMessage(handle)))
            }
        }
    }

    /// The next result of the statement in flight, nil after the last one; reads until libpq
    /// has a whole result.
    private func nextResult(until deadline: ContinuousClock.Instant?) throws -> OpaquePointer? {
        while PQisBusy(handle) != 0 {
            _ = try wait(read: true, write: false, until: deadline)
            guard PQconsumeInput(handle) != 0 else {
                throw lostOrFailed(sqlState: nil, serverMessage: PQConnection.text(PQerrorMessage(handle)))
            }
        }
        return PQgetResult(handle)
    }

    /// Waits until the socket is readable (or writable), or throws `timedOut` (abandoning the
    /// connection) once `deadline` passed. Returns the events `poll()` reported.
    private func wait(read: Bool, write: Bool, until deadline: ContinuousClock.Instant?) throws -> Int16 {
        let socket = PQsocket(handle)
        guard socket >= 0 else {
            throw lostOrFailed(sqlState: nil, serverMessage: PQConnection.text(PQerrorMessage(handle)))
        }
        guard let events = try PQConnection.waitForSocket(socket, read: read, write: write, until: deadline) else {
            isAbandoned = true
            let limit = responseTimeout.map { " within \($0)" } ?? ""
            throw AuditStoreError(
                .timedOut,
                "PostgreSQL did not answer\(limit) (server stopped, overloaded or unreachable); the connection was given up")
        }
        return events
    }

    /// Drives `PQconnectPoll` until the connection is made, fails, or `deadline` passes.
    private static func finishConnecting(_ handle: OpaquePointer, deadline: ContinuousClock.Instant?, limit: Duration?) throws {
        // libpq's connection errors name the host, port and user, never the password or any
        // query data, so they may appear in the description.
        func failure() -> AuditStoreError {
            let message = text(PQerrorMessage(handle))
            return AuditStoreError(.connectionFailed, "could not connect to PostgreSQL: \(message)", serverMessage: message)
        }
        guard PQstatus(handle) != CONNECTION_BAD else { throw failure() }
        // As the libpq manual says: start as if PQconnectPoll had asked to wait for writing.
        var state = PGRES_POLLING_WRITING
        while state != PGRES_POLLING_OK {
            guard state != PGRES_POLLING_FAILED else { throw failure() }
            let socket = PQsocket(handle)
            guard socket >= 0 else { throw failure() }
            guard try waitForSocket(socket, read: state == PGRES_POLLING_READING, write: state == PGRES_POLLING_WRITING, until: deadline) != nil else {
                throw AuditStoreError(
                    .connectionFailed,
                    "could not connect to PostgreSQL: no answer within \(limit.map { "\($0)" } ?? "the time allowed") (server stopped, overloaded or unreachable)")
            }
            state = PQconnectPoll(handle)
        }
    }

    /// `poll()` on one socket until it is ready or `deadline` passes (nil: no deadline);
    /// returns the reported events, or nil on timeout. Retries on EINTR.
    private static func waitForSocket(_ socket: Int32, read: Bool, write: Bool, until deadline: ContinuousClock.Instant?) throws -> Int16? {
        var descriptor = pollfd(fd: socket, events: (read ? Int16(POLLIN) : 0) | (write ? Int16(POLLOUT) : 0), revents: 0)
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { return nil }
                milliseconds = Int32(clamping: (ConnectionSettings.milliseconds(remaining) + 1))
            }
            descriptor.revents = 0
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return descriptor.revents }
            if ready < 0, errno != EINTR {
                throw AuditStoreError(.connectionLost, "waiting for PostgreSQL failed (poll errno \(errno))")
            }
        }
    }

    private static func isFailure(_ status: ExecStatusType) -> Bool {
        status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR || status == PGRES_FATAL_ERROR
    }

    /// The keywords `url` sets itself (nil values left out); empty when libpq cannot parse it,
    /// in which case connecting reports the problem.
    static func keywords(of url: String) -> [String: String] {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &error) else {
            if let error { PQfreemem(error) }
            return [:]
        }
        defer { PQconninfoFree(options) }
        var result: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { result[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        return result
    }

    /// Converts a result to rows, or throws the error it carries; always frees it.
    private func consume(_ result: OpaquePointer?) throws -> SQLRows {
        guard let result else {
            throw lostOrFailed(sqlState: nil, serverMessage: PQConnection.text(PQerrorMessage(handle)))
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return SQLRows(columns: [], values: [], affectedRows: PQConnection.affectedRows(result))
        case PGRES_TUPLES_OK:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            let columns = (0..<columnCount).map { PQConnection.text(PQfname(result, Int32($0))) }
            var values = [[String?]]()
            values.reserveCapacity(rowCount)
            for row in 0..<Int32(rowCount) {
                var rowValues = [String?]()
                rowValues.reserveCapacity(columnCount)
                for column in 0..<Int32(columnCount) {
                    if PQgetisnull(result, row, column) != 0 {
                        rowValues.append(nil)
                    } else {
                        let length = Int(PQgetlength(result, row, column))
                        let pointer = UnsafeRawPointer(PQgetvalue(result, row, column)!)
                        let buffer = UnsafeRawBufferPointer(start: pointer, count: length)
                        rowValues.append(String(decoding: buffer, as: UTF8.self))
                    }
                }
                values.append(rowValues)
            }
            return SQLRows(columns: columns, values: values, affectedRows: rowCount)
        default:
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = PQConnection.text(PQresultErrorMessage(result))
            var error = lostOrFailed(sqlState: sqlState, serverMessage: message)
            error.constraint = PQresultErrorField(result, Int32(UInt8(ascii: "n"))).map { String(cString: $0) }
            throw error
        }
    }

    /// A lost connection when libpq says so (or the server announced a shutdown), else a failed query.
    private func lostOrFailed(sqlState: String?, serverMessage: String) -> AuditStoreError {
        if !isOK || sqlState.map({ $0.hasPrefix("08") || $0 == "57P01" || $0 == "57P02" }) == true {
            return AuditStoreError(
                .connectionLost, "the connection to PostgreSQL broke", sqlState: sqlState, serverMessage: serverMessage)
        }
        return AuditStoreError(
            .queryFailed, "PostgreSQL rejected the statement", sqlState: sqlState, serverMessage: serverMessage)
    }

    private static func affectedRows(_ result: OpaquePointer) -> Int {
        guard let text = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    private static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer).trimmingSuffixWhitespace()
    }

    private static func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        text(pointer.map { UnsafePointer($0) })
    }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings` (nil stays a null pointer),
/// followed by one null pointer (libpq's keyword lists end with it), valid only during the call.
private func withCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var copies: [UnsafeMutablePointer<CChar>?] = (strings + [nil]).map { string in
        guard let string else { return nil }
        let utf8 = Array(string.utf8CString)
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        copy.initialize(from: utf8, count: utf8.count)
        return copy
    }
    defer { for copy in copies { copy?.deallocate() } }
    return copies.withUnsafeMutableBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(buffer.count, 1)) {
            body($0)
        }
    }
}

private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withCStringArray(strings.map(Optional.some), body)
}

extension String {
    fileprivate func trimmingSuffixWhitespace() -> String {
        var end = endIndex
        while end > startIndex, self[index(before: end)].isWhitespace { end = index(before: end) }
        return String(self[..<end])
    }
}

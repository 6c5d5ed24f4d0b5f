import CLibPQ

/// Owns one libpq connection handle (`PGconn`) and makes blocking calls on it.
///
/// Not thread-safe and not `Sendable`: `Connection` keeps it on its own serial queue, so every
/// call here runs off Swift's cooperative thread pool. `deinit` closes the handle (`PQfinish`).
final class PQConnection {
    private let handle: OpaquePointer

    /// Connects with `url` (a `postgresql://` URL or a `key=value` conninfo string); `overrides`
    /// are further libpq keywords that win over the URL's (for example `dbname`).
    init(url: String, overrides: [(String, String)]) throws {
        // Defaults first, then the URL (expanded), then the overrides: later keywords win.
        let pairs: [(String, String)] =
            [("fallback_application_name", "chaperone"), ("connect_timeout", "10"), ("dbname", url)] + overrides
        let handle: OpaquePointer? = withCStringArray(pairs.map(\.0)) { keywords in
            withCStringArray(pairs.map(\.1)) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let handle else {
            throw AuditStoreError(.connectionFailed, "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = PQConnection.text(PQerrorMessage(handle))
            PQfinish(handle)
            // libpq's connection errors name the host, port and user, never the password or any
            // query data, so they may appear in the description.
            throw AuditStoreError(.connectionFailed, "could not connect to PostgreSQL: \(message)", serverMessage: message)
        }
        self.handle = handle
        // Notices ("already exists, skipping") are expected during migrations: don't print them.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        guard PQsetClientEncoding(handle, "UTF8") == 0 else {
            throw AuditStoreError(.connectionFailed, "could not set client encoding UTF8")
        }
        // Fixed session formats so decoding never depends on server or role settings.
        _ = try execute(sql: "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET bytea_output = 'hex'", binds: [])
    }

    deinit {
        PQfinish(handle)
    }

    /// True while libpq considers the connection usable.
    var isOK: Bool { PQstatus(handle) == CONNECTION_OK }

    /// True when a transaction block is open (or failed) on this connection.
    var inTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// The server process serving this connection.
    var backendPID: Int32 { PQbackendPID(handle) }

    /// Runs one statement. With no binds the text may hold several statements (simple query
    /// protocol); with binds it must be one statement (extended protocol, text parameters).
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
        let result: OpaquePointer?
        if binds.isEmpty {
            result = PQexec(handle, sql)
        } else {
            result = withCStringArray(binds.map { bind -> String? in
                if case .text(let text) = bind { return text }
                return nil
            }) { values in
                PQexecParams(handle, sql, Int32(binds.count), nil, values, nil, nil, 0)
            }
        }
        return try consume(result)
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

/// The rows a statement returned, in text format, with columns addressed by name.
public struct SQLRows: Sendable, Sequence {
    /// Column names in result order.
    public let columns: [String]
    /// The returned rows.
    public let rows: [SQLRow]
    /// Rows inserted, updated or deleted (or returned by SELECT), as the server reported.
    public let affectedRows: Int

    init(columns: [String], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        let index = SQLRow.ColumnIndex(columns)
        self.rows = values.map { SQLRow(index: index, values: $0) }
        self.affectedRows = affectedRows
    }

    public func makeIterator() -> IndexingIterator<[SQLRow]> { rows.makeIterator() }

    /// The only row; throws when there is none or more than one.
    public func single(_ what: String) throws -> SQLRow {
        guard rows.count == 1 else {
            throw AuditStoreError(.decodingFailed, "\(what): expected one row, got \(rows.count)")
        }
        return rows[0]
    }
}

/// One returned row. Values are read by column name and decoded to a Swift type.
public struct SQLRow: Sendable {
    /// Column name → position, shared by all rows of a result.
    final class ColumnIndex: Sendable {
        let names: [String]
        let positions: [String: Int]

        init(_ names: [String]) {
            self.names = names
            var positions = [String: Int]()
            for (i, name) in names.enumerated() where positions[name] == nil { positions[name] = i }
            self.positions = positions
        }
    }

    let index: ColumnIndex
    /// Column values in text format; nil is SQL NULL.
    public let values: [String?]

    /// The raw text of a column, or nil for SQL NULL; throws when there is no such column.
    public func text(_ column: String) throws -> String? {
        guard let position = index.positions[column] else {
            throw AuditStoreError(
                .decodingFailed, "no column '\(column)' in result (columns: \(index.names.joined(separator: ", ")))")
        }
        return values[position]
    }

    /// Decodes a non-NULL column; throws naming the column when it is NULL or malformed.
    public func decode<Value: SQLDecodable>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        guard let text = try text(column) else {
            throw AuditStoreError(.decodingFailed, "column '\(column)' is NULL")
        }
        return try Value(sqlText: text, column: column)
    }

    /// Decodes a column that may be NULL.
    public func decodeIfPresent<Value: SQLDecodable>(_ column: String, as type: Value.Type = Value.self) throws
        -> Value?
    {
        guard let text = try text(column) else { return nil }
        return try Value(sqlText: text, column: column)
    }
}

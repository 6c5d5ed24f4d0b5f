/// A SQL statement whose values travel apart from its text.
///
/// Every value interpolated into a `SQLQuery` becomes a `$n` bind parameter sent in text
/// format, so no value is ever spliced into the SQL:
///
/// ```swift
/// let query: SQLQuery = "SELECT * FROM audit_decisions WHERE tenant = \(tenant) LIMIT \(limit)"
/// // sql: "SELECT * FROM audit_decisions WHERE tenant = $1 LIMIT $2", binds: [tenant, limit]
/// ```
///
/// Raw SQL text (several statements, no binds) is only possible through
/// ``init(unsafeSQL:)``, which the migration runner uses for migration files.
public struct SQLQuery: Sendable, Hashable, ExpressibleByStringInterpolation {
    /// The statement text, with `$1`, `$2`, … where values were interpolated.
    public private(set) var sql: String
    /// The bound values, in `$n` order.
    public private(set) var binds: [SQLBind]

    /// Wraps trusted SQL text as it is. Never build `sql` from request data.
    public init(unsafeSQL sql: String) {
        self.sql = sql
        self.binds = []
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// Builds a query's text and binds from a string interpolation.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var binds: [SQLBind]

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + 4 * interpolationCount)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Appends `$n` and binds `value`.
        public mutating func appendInterpolation<Value: SQLEncodable>(_ value: Value) {
            binds.append(value.sqlBind)
            sql += "$\(binds.count)"
        }

        /// Appends `$n` and binds `value`, or SQL NULL when it is nil.
        public mutating func appendInterpolation<Value: SQLEncodable>(_ value: Value?) {
            binds.append(value?.sqlBind ?? .null)
            sql += "$\(binds.count)"
        }

        /// Appends an identifier (table, database or role name), double-quoted and escaped.
        /// Identifiers cannot be bound as parameters; quoting makes any name safe.
        public mutating func appendInterpolation(identifier: String) {
            sql += SQLQuery.quoteIdentifier(identifier)
        }
    }

    /// `name` as a double-quoted SQL identifier, with embedded quotes doubled.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// One bound value as sent to the server: SQL NULL or its text form.
public enum SQLBind: Sendable, Hashable {
    case null
    case text(String)
}

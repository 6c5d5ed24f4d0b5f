import Foundation

/// A Swift value that can be bound to a query parameter in PostgreSQL's text format.
public protocol SQLEncodable: Sendable {
    /// The value's bind: its text as PostgreSQL parses it for the parameter's type.
    var sqlBind: SQLBind { get }
}

/// A Swift value that can be read from a column returned in PostgreSQL's text format.
public protocol SQLDecodable: Sendable {
    /// Parses the column's text; throws `decodingFailed` naming the column when it cannot.
    init(sqlText: String, column: String) throws
}

extension String: SQLEncodable, SQLDecodable {
    public var sqlBind: SQLBind { .text(self) }
    public init(sqlText: String, column: String) { self = sqlText }
}

extension Int: SQLEncodable, SQLDecodable {
    public var sqlBind: SQLBind { .text(String(self)) }
    public init(sqlText: String, column: String) throws {
        guard let value = Int(sqlText) else { throw SQLCodingError.notA("integer", column: column) }
        self = value
    }
}

extension Int64: SQLEncodable, SQLDecodable {
    public var sqlBind: SQLBind { .text(String(self)) }
    public init(sqlText: String, column: String) throws {
        guard let value = Int64(sqlText) else { throw SQLCodingError.notA("64-bit integer", column: column) }
        self = value
    }
}

extension Int32: SQLEncodable, SQLDecodable {
    public var sqlBind: SQLBind { .text(String(self)) }
    public init(sqlText: String, column: String) throws {
        guard let value = Int32(sqlText) else { throw SQLCodingError.notA("32-bit integer", column: column) }
        self = value
    }
}

extension Bool: SQLEncodable, SQLDecodable {
    public var sqlBind: SQLBind { .text(self ? "true" : "false") }
    public init(sqlText: String, column: String) throws {
        switch sqlText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw SQLCodingError.notA("boolean", column: column)
        }
    }
}

extension Double: SQLEncodable, SQLDecodable {
    public var sqlBind: SQLBind {
        if isNaN { return .text("NaN") }
        if isInfinite { return .text(self > 0 ? "Infinity" : "-Infinity") }
        return .text(String(self))
    }

    public init(sqlText: String, column: String) throws {
        switch sqlText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(sqlText) else { throw SQLCodingError.notA("number", column: column) }
            self = value
        }
    }
}

/// Raw bytes for a `bytea` column, sent and read in PostgreSQL's hex format (`\x0a1b…`).
public struct SQLBytes: SQLEncodable, SQLDecodable, Hashable {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var sqlBind: SQLBind { .text(SQLBytes.hexText(bytes)) }

    public init(sqlText: String, column: String) throws {
        guard let bytes = SQLBytes.parseHexText(sqlText) else {
            throw SQLCodingError.notA("bytea in hex format", column: column)
        }
        self.bytes = bytes
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `\x` followed by two lowercase hex digits per byte.
    static func hexText(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: 2 + 2 * bytes.count) { out in
            out[0] = UInt8(ascii: "\\")
            out[1] = UInt8(ascii: "x")
            hexDigits.withUnsafeBufferPointer { digits in
                bytes.withUnsafeBufferPointer { input in
                    var o = 2
                    for byte in input {
                        out[o] = digits[Int(byte >> 4)]
                        out[o + 1] = digits[Int(byte & 0x0f)]
                        o += 2
                    }
                }
            }
            return 2 + 2 * bytes.count
        }
    }

    /// Parses `\x…` hex text; nil when it is not that.
    static func parseHexText(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0
            else { return nil }
            let count = (utf8.count - 2) / 2
            var valid = true
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
                var index = 2
                for o in 0..<count {
                    guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else {
                        valid = false
                        break
                    }
                    out[o] = high << 4 | low
                    index += 2
                }
                initialized = valid ? count : 0
            }
            return valid ? bytes : nil
        }
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A point in time for a `timestamptz` column, exact to the microsecond (PostgreSQL's
/// resolution). Sent as UTC text; read from the ISO text a session in UTC returns.
public struct SQLTimestamp: SQLEncodable, SQLDecodable, Hashable, Comparable, Codable {
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    public var microsecondsSince1970: Int64

    public init(microsecondsSince1970: Int64) { self.microsecondsSince1970 = microsecondsSince1970 }

    /// `date` rounded to the nearest microsecond.
    public init(_ date: Date) {
        microsecondsSince1970 = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    public var date: Date { Date(timeIntervalSince1970: Double(microsecondsSince1970) / 1_000_000) }

    public static func < (lhs: SQLTimestamp, rhs: SQLTimestamp) -> Bool {
        lhs.microsecondsSince1970 < rhs.microsecondsSince1970
    }

    public var sqlBind: SQLBind { .text(isoText) }

    /// ISO 8601 in UTC with microseconds: `2026-01-31T12:00:00.000001Z`.
    public var iso8601: String {
        String(isoText.dropLast(3).map { $0 == " " ? "T" : $0 }) + "Z"
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00`.
    var isoText: String {
        let (days, micros) = floorDivide(microsecondsSince1970, 86_400_000_000)
        let (year, month, day) = SQLTimestamp.civil(fromDays: days)
        let seconds = micros / 1_000_000
        let fraction = micros % 1_000_000
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(seconds / 3600, 2)):"
            + "\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2)).\(pad(fraction, 6))+00"
    }

    /// Encodes as ``iso8601``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(iso8601)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let micros = SQLTimestamp.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 timestamp")
        }
        microsecondsSince1970 = micros
    }

    public init(sqlText: String, column: String) throws {
        guard let micros = SQLTimestamp.parse(sqlText) else {
            throw SQLCodingError.notA("timestamp in ISO format", column: column)
        }
        microsecondsSince1970 = micros
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.f…](+|-)HH[:MM[:SS]]` (DateStyle ISO) to microseconds.
    static func parse(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        var i = 0
        func number(_ count: Int) -> Int64? {
            guard i + count <= u.count else { return nil }
            var value: Int64 = 0
            for c in u[i..<(i + count)] {
                guard c >= 48, c <= 57 else { return nil }
                value = value * 10 + Int64(c - 48)
            }
            i += count
            return value
        }
        func expect(_ c: Character) -> Bool {
            guard i < u.count, u[i] == c.asciiValue else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            expect(" ") || expect("T"), let hour = number(2), expect(":"), let minute = number(2),
            expect(":"), let second = number(2)
        else { return nil }
        var micros: Int64 = 0
        if expect(".") {
            var digits = 0
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                if digits < 6 { micros = micros * 10 + Int64(u[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 6) { micros *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if i < u.count {
            let sign: Int64
            if expect("+") { sign = 1 } else if expect("-") { sign = -1 } else if expect("Z") { sign = 0 } else { return nil }
            if sign != 0 {
                guard let oh = number(2) else { return nil }
                var om: Int64 = 0
                var os: Int64 = 0
                if expect(":") { guard let m = number(2) else { return nil }; om = m }
                if expect(":") { guard let s = number(2) else { return nil }; os = s }
                offsetSeconds = sign * (oh * 3600 + om * 60 + os)
            }
        }
        guard i == u.count, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60,
            second < 61
        else { return nil }
        let days = days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a count of days since 1970-01-01.
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (month <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, month, day)
    }
}

private func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
    let q = a / b
    let r = a % b
    return r < 0 ? (q - 1, r + b) : (q, r)
}

enum SQLCodingError {
    static func notA(_ kind: String, column: String) -> AuditStoreError {
        AuditStoreError(.decodingFailed, "column '\(column)' does not hold a \(kind)")
    }
}

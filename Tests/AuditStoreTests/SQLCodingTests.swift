import AuditStore
import Foundation
import Testing

@Suite struct SQLCodingTests {
    @Test func byteaHexRoundTripsEveryByteValue() throws {
        let bytes = (0...255).map(UInt8.init) + [0, 0, 7]
        guard case .text(let text) = SQLBytes(bytes).sqlBind else {
            Issue.record("bytes must bind as text")
            return
        }
        #expect(text.hasPrefix("\\x000102"))
        #expect(text.count == 2 + 2 * bytes.count)
        #expect(try SQLBytes(sqlText: text, column: "c").bytes == bytes)
        #expect(try SQLBytes(sqlText: "\\xDEADbeef", column: "c").bytes == [0xde, 0xad, 0xbe, 0xef])
    }

    @Test func malformedByteaIsRefusedNamingTheColumn() {
        for text in ["", "\\x0", "\\xzz", "0102", "\\y00"] {
            #expect(throws: AuditStoreError.self) { try SQLBytes(sqlText: text, column: "payload") }
        }
        do {
            _ = try SQLBytes(sqlText: "\\xzz", column: "published_payload")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("published_payload"))
        }
    }

    /// Reference: count days with a naive loop over years and months.
    static func naiveDays(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
        func leap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
        let monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        var days: Int64 = 0
        if year >= 1970 {
            for y in 1970..<year { days += leap(y) ? 366 : 365 }
        } else {
            for y in year..<1970 { days -= leap(y) ? 366 : 365 }
        }
        for m in 1..<month { days += Int64(monthDays[m - 1] + (m == 2 && leap(year) ? 1 : 0)) }
        return days + Int64(day - 1)
    }

    @Test func timestampsMatchANaiveCalendarAndRoundTrip() throws {
        for year in [1900, 1969, 1970, 1999, 2000, 2024, 2026, 2100, 2400] {
            for (month, day) in [(1, 1), (2, 28), (2, 29), (3, 1), (12, 31)] {
                if month == 2, day == 29, !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0) { continue }
                func pad(_ v: Int, _ w: Int) -> String { String(repeating: "0", count: w - String(v).count) + String(v) }
                let text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) 13:45:07.000042+00"
                let parsed = try SQLTimestamp(sqlText: text, column: "t")
                let expected = (Self.naiveDays(year, month, day) * 86_400 + 13 * 3600 + 45 * 60 + 7) * 1_000_000 + 42
                #expect(parsed.microsecondsSince1970 == expected, "\(text)")
                guard case .text(let back) = parsed.sqlBind else { continue }
                #expect(back == text)
            }
        }
    }

    @Test func timestampOffsetsAndFractionsAreApplied() throws {
        let base = try SQLTimestamp(sqlText: "2026-11-25 16:10:43+00", column: "t")
        // 2026-11-25 is day 20782 since 1970-01-01 (57 years, 14 of them leap, less 36 days).
        #expect(base.microsecondsSince1970 == (20782 * 86_400 + 16 * 3600 + 10 * 60 + 43) * 1_000_000)
        #expect(try SQLTimestamp(sqlText: "2026-11-25 18:10:43.5+02", column: "t").microsecondsSince1970 == base.microsecondsSince1970 + 500_000)
        #expect(try SQLTimestamp(sqlText: "2026-11-25 10:40:43-05:30", column: "t") == base)
        #expect(base.iso8601 == "2026-11-25T16:10:43.000000Z")
        #expect(throws: AuditStoreError.self) { try SQLTimestamp(sqlText: "2026-13-01 00:00:00+00", column: "t") }
        #expect(throws: AuditStoreError.self) { try SQLTimestamp(sqlText: "yesterday", column: "t") }
    }

    @Test func scalarsDecodeAndRefuseGarbage() throws {
        #expect(try Int(sqlText: "-42", column: "c") == -42)
        #expect(try Bool(sqlText: "t", column: "c") == true)
        #expect(try Double(sqlText: "NaN", column: "c").isNaN)
        #expect(throws: AuditStoreError.self) { try Int(sqlText: "4x", column: "c") }
        #expect(throws: AuditStoreError.self) { try Bool(sqlText: "yes", column: "c") }
    }
}

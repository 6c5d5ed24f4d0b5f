import Foundation

/// RFC 3339 UTC timestamps with milliseconds, as used in results and DLQ envelopes.
public enum Timestamp {
    /// `date` formatted like `2026-01-31T12:00:00.123Z`.
    public static func rfc3339(_ date: Date = Date()) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }
}

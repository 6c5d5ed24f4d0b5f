import Foundation

/// A comma-separated table as RFC 4180 writes it (and pandas' `to_csv` does): the first record
/// is the header; a field may be quoted with `"`, and inside quotes a doubled `""` is one quote
/// while commas and line breaks are part of the field. Records end with LF or CRLF; a UTF-8 byte
/// order mark and one final line break are dropped. Every record must have as many fields as the
/// header. Errors name the source, the record (row 1 is the first after the header) and its line.
public struct CSVTable: Sendable, Equatable {
    /// Column names, in file order.
    public var header: [String]
    /// Data records; each has `header.count` fields.
    public var rows: [Row]

    /// One data record with where it came from.
    public struct Row: Sendable, Equatable {
        /// 1 for the first record after the header.
        public var number: Int
        /// The file line the record starts on (the header is line 1).
        public var line: Int
        public var fields: [String]
    }

    /// Parses `text`; `source` names it in errors.
    public init(parsing text: String, source: String) throws {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var line = 1, recordLine = 1
        var inQuotes = false, quotedField = false, afterQuote = false
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var i = 0
        func endRecord() {
            fields.append(field)
            records.append((recordLine, fields))
            fields = []
            field = ""
            quotedField = false
            afterQuote = false
        }
        while i < scalars.count {
            let c = scalars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < scalars.count && scalars[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                i += 1
                continue
            }
            switch c {
            case ",":
                fields.append(field)
                field = ""
                quotedField = false
                afterQuote = false
            case "\r" where i + 1 < scalars.count && scalars[i + 1] == "\n":
                i += 1
                fallthrough
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            case "\"":
                guard field.isEmpty && !quotedField else {
                    throw EvaluationError("\(source): line \(line): a quote inside an unquoted field (quote the whole field and double the quote)")
                }
                inQuotes = true
                quotedField = true
            default:
                guard !afterQuote else {
                    throw EvaluationError("\(source): line \(line): text after the closing quote of a field (a quote inside a quoted field is written \"\")")
                }
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if inQuotes {
            throw EvaluationError("\(source): line \(recordLine): a quoted field is not closed before the end of the file")
        }
        // The last record, unless the text ended with its line break.
        if !(fields.isEmpty && field.isEmpty && !quotedField) { endRecord() }

        guard let first = records.first else { throw EvaluationError("\(source): the file is empty (a header line is needed)") }
        header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        var seen: Set<String> = []
        for name in header {
            guard !name.isEmpty else { throw EvaluationError("\(source): line 1: the header has an empty column name") }
            guard seen.insert(name).inserted else { throw EvaluationError("\(source): line 1: column '\(name)' appears twice in the header") }
        }
        // Blank lines at the end of the file are not records.
        while records.count > 1, records[records.count - 1].fields == [""] { records.removeLast() }
        rows = []
        for (index, record) in records.dropFirst().enumerated() {
            let number = index + 1
            if record.fields == [""] {
                throw EvaluationError("\(source): row \(number) (line \(record.line)) is empty")
            }
            guard record.fields.count == header.count else {
                throw EvaluationError("\(source): row \(number) (line \(record.line)) has \(record.fields.count) fields, the header has \(header.count) (a field with a comma must be quoted)")
            }
            rows.append(Row(number: number, line: record.line, fields: record.fields))
        }
    }

    /// The index of `column` in the header, nil when absent.
    public func index(of column: String) -> Int? {
        header.firstIndex(of: column)
    }
}

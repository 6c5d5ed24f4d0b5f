import Foundation
import Testing
@testable import Evaluation

/// The CSV reader on hand-written files: RFC 4180 quoting as pandas writes it, and errors that
/// name the file, the row and the line.
@Suite struct CSVTableTests {
    func parse(_ text: String) throws -> CSVTable { try CSVTable(parsing: text, source: "set.csv") }

    func message(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    @Test func quotedFieldsKeepCommasQuotesAndLineBreaks() throws {
        let table = try parse("prompt,categories\n\"a, b\",sexual\n\"say \"\"hi\"\"\",\"hate,harassment\"\n\"two\nlines\",violence\n")
        #expect(table.header == ["prompt", "categories"])
        #expect(table.rows.map(\.fields) == [["a, b", "sexual"], ["say \"hi\"", "hate,harassment"], ["two\nlines", "violence"]])
        // Row numbers count records, lines count file lines (the quoted break moves the next one).
        #expect(table.rows.map(\.number) == [1, 2, 3])
        #expect(table.rows.map(\.line) == [2, 3, 4])
    }

    @Test func lineEndingsByteOrderMarkAndEmptyFields() throws {
        let table = try parse("\u{FEFF}a,b,c\r\n1,,3\r\n\"\",x,\r\n")
        #expect(table.header == ["a", "b", "c"])
        #expect(table.rows.map(\.fields) == [["1", "", "3"], ["", "x", ""]])
        // No final line break, and blank lines at the end are not records.
        #expect(try parse("a,b\n1,2").rows.map(\.fields) == [["1", "2"]])
        #expect(try parse("a,b\n1,2\n\n\n").rows.map(\.fields) == [["1", "2"]])
        // A lone carriage return inside a field is text.
        #expect(try parse("a\nx\ry\n").rows.map(\.fields) == [["x\ry"]])
    }

    @Test func malformedFilesAreRefusedWithTheirPlace() {
        #expect(message("a,b\n1,2\n3\n")?.contains("set.csv: row 2 (line 3) has 1 fields, the header has 2") == true)
        #expect(message("a,b\n1,2,3\n")?.contains("row 1 (line 2) has 3 fields") == true)
        #expect(message("a,b\n\"open,2\n")?.contains("line 2: a quoted field is not closed") == true)
        #expect(message("a,b\nx\"y,2\n")?.contains("line 2: a quote inside an unquoted field") == true)
        #expect(message("a,b\n\"x\"y,2\n")?.contains("line 2: text after the closing quote") == true)
        #expect(message("a,a\n1,2\n")?.contains("column 'a' appears twice") == true)
        #expect(message("a,,b\n1,2,3\n")?.contains("empty column name") == true)
        #expect(message("a,b\n1,2\n\n3,4\n")?.contains("row 2 (line 3) is empty") == true)
        #expect(message("")?.contains("the file is empty") == true)
    }
}

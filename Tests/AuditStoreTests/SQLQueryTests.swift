import AuditStore
import Testing

@Suite struct SQLQueryTests {
    @Test func interpolatedValuesBecomeNumberedBinds() {
        let tenant = "acme'; DROP TABLE decisions; --"
        let limit = 5
        let missing: String? = nil
        let query: SQLQuery = "SELECT * FROM t WHERE tenant = \(tenant) AND x = \(missing) LIMIT \(limit)"
        #expect(query.sql == "SELECT * FROM t WHERE tenant = $1 AND x = $2 LIMIT $3")
        #expect(query.binds == [.text(tenant), .null, .text("5")])
    }

    @Test func unsafeSQLIsTakenVerbatimWithoutBinds() {
        let query = SQLQuery(unsafeSQL: "CREATE TABLE x (a int); SELECT '\\(1)'")
        #expect(query.sql == "CREATE TABLE x (a int); SELECT '\\(1)'")
        #expect(query.binds.isEmpty)
    }

    @Test func identifiersAreQuotedAndEscaped() {
        let name = "odd\"name"
        let query: SQLQuery = "DROP DATABASE \(identifier: name)"
        #expect(query.sql == "DROP DATABASE \"odd\"\"name\"")
        #expect(query.binds.isEmpty)
    }

    @Test func valuesUseTheirPostgresTextForms() {
        let query: SQLQuery =
            "\(true) \(Int64(-9_000_000_000)) \(Int32(7)) \(1.5) \(Double.infinity) \(SQLBytes([0x00, 0xff, 0x1a]))"
        #expect(query.binds == [.text("true"), .text("-9000000000"), .text("7"), .text("1.5"), .text("Infinity"), .text("\\x00ff1a")])
    }
}

import AuditStore
import Testing

@Suite struct AuditStoreErrorTests {
    @Test(arguments: [
        ("40001", true), ("40P01", true), ("57P01", true), ("57P02", true), ("57P03", true), ("08006", true),
        ("08001", true), ("53300", true), ("57014", true), ("23505", false), ("23514", false), ("42501", false),
        ("42P01", false), ("22P05", false),
    ])
    func retriableBySQLState(state: String, retriable: Bool) {
        #expect(AuditStoreError(.queryFailed, "q", sqlState: state).isRetriable == retriable)
    }

    @Test func connectionProblemsAreRetriableAndMisuseIsNot() {
        #expect(AuditStoreError(.connectionLost, "x").isRetriable)
        #expect(AuditStoreError(.connectionFailed, "x").isRetriable)
        #expect(!AuditStoreError(.invalidValue, "x").isRetriable)
        #expect(!AuditStoreError(.migrationMismatch, "x").isRetriable)
    }

    @Test func descriptionKeepsTheServerMessageOut() {
        let error = AuditStoreError(
            .queryFailed, "insert decision: PostgreSQL rejected the statement", sqlState: "22P02",
            serverMessage: "invalid input syntax for type integer: \"my secret prompt\"")
        #expect(error.description == "AuditStoreError.queryFailed: insert decision: PostgreSQL rejected the statement (SQLSTATE 22P02 invalid_text_representation)")
        #expect(error.debugDescription.contains("my secret prompt"))
    }
}

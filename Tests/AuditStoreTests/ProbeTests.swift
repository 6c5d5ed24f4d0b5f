import AuditStore
import Foundation
import Testing

/// `AuditRepository.probe()` (the worker's readiness check while idle) and recovery from a
/// database that was read-only.
@Suite struct ProbeTests {
    /// Sets or resets the database's `default_transaction_read_only` from the admin session, then
    /// terminates `repository`'s session so the next call starts a new one.
    static func setReadOnly(_ on: Bool, _ db: TestDatabase, _ repository: AuditRepository) async throws {
        let admin = try await Connection.connect(url: db.url)
        if on {
            try await admin.query("ALTER DATABASE \(identifier: db.name) SET default_transaction_read_only = on")
        } else {
            try await admin.query("ALTER DATABASE \(identifier: db.name) RESET default_transaction_read_only")
        }
        let pid = try await repository.connection.backendPID()
        let killed = try await admin.query("SELECT pg_terminate_backend(\(pid), 5000) AS killed").single("terminate")
        #expect(try killed.decode("killed", as: Bool.self))
        await admin.close()
    }

    static func isReadOnly(_ error: any Error) -> Bool {
        (error as? AuditStoreError)?.sqlState == "25006"
    }

    @Test func probePassesOnAWritableDatabaseAndFailsOnAReadOnlyOneUntilItIsWritable() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            try await repository.probe()
            try await Self.setReadOnly(true, db, repository)
            await #expect(performing: { try await repository.probe() }, throws: { Self.isReadOnly($0) && "\($0)".contains("read-only") })
            // Writable again: the session the failed probe dropped is not reused, so the next
            // probe sees the database's current setting without any backend being killed.
            let admin = try await Connection.connect(url: db.url)
            try await admin.query("ALTER DATABASE \(identifier: db.name) RESET default_transaction_read_only")
            await admin.close()
            try await repository.probe()
        }
    }

    @Test func insertRecoversInPlaceOnceTheDatabaseIsWritableAgain() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            _ = try await repository.insertDecision(Fixtures.decision(id: "req-before"))
            try await Self.setReadOnly(true, db, repository)
            await #expect(performing: { try await repository.insertDecision(Fixtures.decision(id: "req-during")) }, throws: { Self.isReadOnly($0) })
            let admin = try await Connection.connect(url: db.url)
            try await admin.query("ALTER DATABASE \(identifier: db.name) RESET default_transaction_read_only")
            await admin.close()
            // Same repository, no backend killed: the read-only session was dropped after the failure.
            #expect(try await repository.insertDecision(Fixtures.decision(id: "req-during")).wasInserted)
            #expect(try await repository.count() == 2)
        }
    }
}

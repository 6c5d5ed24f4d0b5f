import AuditStore
import Testing

/// The audit log is append-only for everyone and least-privilege per role.
@Suite struct PrivilegeTests {
    /// Runs each statement as `role` (SET ROLE) in autocommit mode; returns the SQLSTATE each
    /// one failed with, or nil for success.
    static func outcomes(_ statements: [SQLQuery], as role: String?, on connection: Connection) async throws -> [String?] {
        try await connection.withSession { session in
            if let role { try session.query("SET ROLE \(identifier: role)") }
            defer { _ = try? session.query("RESET ROLE") }
            return statements.map { statement in
                do {
                    try session.query(statement)
                    return nil
                } catch let error as AuditStoreError {
                    return error.sqlState ?? "\(error.code)"
                } catch {
                    return "\(error)"
                }
            }
        }
    }

    static func seeded(_ db: TestDatabase) async throws -> Connection {
        let connection = try await db.migrated()
        _ = try await AuditRepository(connection: connection).insertDecision(Fixtures.decision(id: "req-seed"))
        return connection
    }

    @Test func workerMayInsertAndSelectButNeverChangeOrRemove() async throws {
        try await TestDatabase.with { db in
            let connection = try await Self.seeded(db)
            let record = Fixtures.decision(id: "req-by-worker")
            let results = try await Self.outcomes(
                [
                    "SELECT count(*) FROM decisions",
                    "SELECT * FROM audit_decisions",
                    "SELECT version FROM schema_migrations",
                    """
                    INSERT INTO decisions (request_id, tenant, decision, worker_id, source_topic, source_partition,
                                           source_offset, published_topic, published_payload)
                    VALUES (\(record.requestID), 'acme', 'allow', 'w', 't', 0, 1, 'r', '\\x00')
                    """,
                    "UPDATE decisions SET decision = 'allow'",
                    "DELETE FROM decisions",
                    "TRUNCATE decisions",
                    "ALTER TABLE decisions DROP CONSTRAINT decisions_tenant_known",
                    "ALTER TABLE decisions DISABLE TRIGGER decisions_no_update_delete",
                    "DROP TABLE decisions",
                    "CREATE TABLE decisions_copy (id int)",
                ], as: "chaperone_worker", on: connection)
            #expect(results[0..<4].allSatisfy { $0 == nil }, "\(results)")
            #expect(results[4...].allSatisfy { $0 == "42501" }, "\(results)")
            #expect(try await AuditRepository(connection: connection).count() == 2)
        }
    }

    @Test func analystMayOnlyReadTheViews() async throws {
        try await TestDatabase.with { db in
            let connection = try await Self.seeded(db)
            let results = try await Self.outcomes(
                [
                    "SELECT request_id, prompt, scores FROM audit_decisions",
                    "SELECT * FROM audit_summary",
                    "SELECT * FROM decisions",
                    "SELECT published_payload FROM decisions",
                    "INSERT INTO decisions (request_id) VALUES ('x')",
                    "UPDATE decisions SET tenant = 'x'",
                    "DELETE FROM decisions",
                    "TRUNCATE decisions",
                    "ALTER TABLE decisions ADD COLUMN note text",
                ], as: "chaperone_analyst", on: connection)
            #expect(results[0..<2].allSatisfy { $0 == nil }, "\(results)")
            #expect(results[2...].allSatisfy { $0 == "42501" }, "\(results)")
        }
    }

    @Test func evenTheOwnerCannotChangeOrRemoveRows() async throws {
        try await TestDatabase.with { db in
            let connection = try await Self.seeded(db)
            let results = try await Self.outcomes(
                ["UPDATE decisions SET decision = 'block'", "DELETE FROM decisions", "TRUNCATE decisions"],
                as: nil, on: connection)
            #expect(results == ["42501", "42501", "42501"])
            let stored = try await AuditRepository(connection: connection).decision(requestID: "req-seed")
            #expect(stored?.decision == .allow)
        }
    }

    @Test func rolesCannotLogInUntilADeploymentAllowsIt() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            try await Migrator(connection: connection, directory: Fixtures.migrations).migrate()
            let rows = try await connection.query(
                "SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname LIKE 'chaperone\\_%' ORDER BY rolname")
            #expect(try rows.map { try $0.decode("rolname", as: String.self) } == ["chaperone_analyst", "chaperone_console", "chaperone_reviewer", "chaperone_worker"])
            #expect(try rows.allSatisfy { try !$0.decode("rolcanlogin", as: Bool.self) && !$0.decode("rolsuper", as: Bool.self) })
        }
    }
}

@Suite struct WorkerRoleMigrationTests {
    @Test func workerRoleChecksAnUpToDateSchemaButCannotApplyMigrations() async throws {
        let latest = try Fixtures.latestMigrationVersion()
        let extraName = String(format: "%03d_more.sql", latest + 1)
        let folder = try Fixtures.migrationsCopy(upTo: latest, extra: [extraName: "CREATE TABLE more (id int);"])
        try await TestDatabase.with { db in
            try await Migrator(connection: try await db.connect(), directory: Fixtures.migrations).migrate()
            let worker = try await db.connect()
            try await worker.query("SET ROLE chaperone_worker")
            let report = try await Migrator(connection: worker, directory: Fixtures.migrations).migrate()
            #expect(report.applied.isEmpty && report.version == latest)
            await #expect {
                try await Migrator(connection: worker, directory: folder).migrate()
            } throws: { error in
                let error = error as? AuditStoreError
                return error?.sqlState == "42501" && error?.message.contains(extraName) == true
            }
        }
    }
}

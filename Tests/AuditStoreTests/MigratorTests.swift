import AuditStore
import Foundation
import Testing

@Suite struct MigratorTests {
    @Test func appliesInOrderAndRecordsEachMigration() async throws {
        let folder = try Fixtures.migrationsCopy(extra: [
            "002_notes.sql": "CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);",
            "003_notes_seed.sql": "INSERT INTO notes VALUES (1, 'needs 002 first');",
        ])
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            let migrator = try Migrator(connection: connection, directory: folder)
            let report = try await migrator.migrate()
            #expect(report == Migrator.Report(applied: [1, 2, 3], alreadyApplied: 0, version: 3))

            let applied = try await migrator.appliedVersions()
            #expect(applied.map(\.version) == [1, 2, 3])
            #expect(applied.map(\.name) == ["decisions", "notes", "notes_seed"])
            // sha256 of the file bytes: compare with the server hashing the same text independently.
            let expected = try await connection.query(
                "SELECT encode(sha256(convert_to(\("INSERT INTO notes VALUES (1, 'needs 002 first');"), 'UTF8')), 'hex') AS h"
            ).single("hash").decode("h", as: String.self)
            #expect(applied[2].sha256 == expected)
            #expect(applied[0].appliedAt <= applied[2].appliedAt)
            let body = try await connection.query("SELECT body FROM notes").single("note").decode("body", as: String.self)
            #expect(body == "needs 002 first")
        }
    }

    @Test func runningAgainIsANoOp() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            let migrator = try Migrator(connection: connection, directory: Fixtures.migrations)
            let first = try await migrator.migrate()
            let before = try await migrator.appliedVersions()
            let second = try await migrator.migrate()
            #expect(first.applied == Array(1...first.version))
            #expect(second.applied.isEmpty)
            #expect(second.alreadyApplied == first.version)
            #expect(try await migrator.appliedVersions() == before)
        }
    }

    @Test func refusesAChangedFileNamingIt() async throws {
        let folder = try Fixtures.migrationsCopy(extra: ["002_notes.sql": "CREATE TABLE notes (id int);"])
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            try await Migrator(connection: connection, directory: folder).migrate()
            try Data("CREATE TABLE notes (id bigint);".utf8).write(to: folder.appendingPathComponent("002_notes.sql"))
            try Data("CREATE TABLE later (id int);".utf8).write(to: folder.appendingPathComponent("003_later.sql"))
            let migrator = try Migrator(connection: connection, directory: folder)
            await #expect {
                try await migrator.migrate()
            } throws: { error in
                let error = error as? AuditStoreError
                return error?.code == .migrationMismatch && error?.message.contains("002_notes.sql") == true
            }
            // Nothing after the refusal was applied.
            let later = try await connection.query("SELECT to_regclass('later') IS NULL AS absent").single("later")
            #expect(try later.decode("absent", as: Bool.self))
            #expect(try await migrator.appliedVersions().map(\.version) == [1, 2])
        }
    }

    @Test func refusesADatabaseAheadOfTheFolder() async throws {
        let folder = try Fixtures.migrationsCopy(extra: ["002_notes.sql": "CREATE TABLE notes (id int);"])
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            try await Migrator(connection: connection, directory: folder).migrate()
            let older = try Migrator(connection: connection, directory: try Fixtures.migrationsCopy())
            await #expect(throws: AuditStoreError.self) { try await older.migrate() }
        }
    }

    @Test func aFailingMigrationLeavesThePreviousVersion() async throws {
        let folder = try Fixtures.migrationsCopy(extra: [
            "002_broken.sql": "CREATE TABLE half (id int); SELECT no_such_function();",
        ])
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            let migrator = try Migrator(connection: connection, directory: folder)
            await #expect {
                try await migrator.migrate()
            } throws: { error in
                let error = error as? AuditStoreError
                return error?.sqlState == "42883" && error?.message.contains("002_broken.sql") == true
            }
            #expect(try await migrator.appliedVersions().map(\.version) == [1])
            let half = try await connection.query("SELECT to_regclass('half') IS NULL AS absent").single("half")
            #expect(try half.decode("absent", as: Bool.self))
        }
    }

    @Test func concurrentMigratorsTakeTurns() async throws {
        // A slow second migration widens the window in which the migrators would collide.
        let folder = try Fixtures.migrationsCopy(extra: [
            "002_slow.sql": "SELECT pg_sleep(0.3); CREATE TABLE slow (id int);",
        ])
        try await TestDatabase.with { db in
            let connections = [try await db.connect(), try await db.connect(), try await db.connect()]
            let reports = try await withThrowingTaskGroup(of: Migrator.Report.self) { group in
                for connection in connections {
                    group.addTask { try await Migrator(connection: connection, directory: folder).migrate() }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Each migration was applied by exactly one migrator; the others found it done.
            #expect(reports.flatMap(\.applied).sorted() == [1, 2])
            #expect(reports.allSatisfy { $0.version == 2 })
            let rows = try await connections[0].query("SELECT count(*) AS n FROM schema_migrations").single("n")
            #expect(try rows.decode("n", as: Int.self) == 2)
        }
    }

    @Test func pendingMigrationsNamesWhatTheDatabaseLacks() async throws {
        let latest = try Fixtures.latestMigrationVersion()
        let shipped = try Migration.load(from: Fixtures.migrations)
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            let migrator = Migrator(connection: connection, migrations: shipped)
            // A fresh database lacks everything, and has no schema_migrations table yet.
            #expect(try await migrator.pendingMigrations() == shipped)
            // One behind: exactly the newest file is missing, whatever its number.
            try await Migrator(connection: connection, directory: try Fixtures.migrationsCopy(upTo: latest - 1)).migrate()
            let pending = try await migrator.pendingMigrations()
            #expect(pending.map(\.version) == [latest])
            #expect(pending.map(\.fileName) == [shipped.last?.fileName])
            try await migrator.migrate()
            #expect(try await migrator.pendingMigrations().isEmpty)
        }
    }

    @Test func pendingMigrationsIgnoresMigrationsBeyondTheBuild() async throws {
        let folder = try Fixtures.migrationsCopy(extra: ["002_notes.sql": "CREATE TABLE notes (id int);"])
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            try await Migrator(connection: connection, directory: folder).migrate()
            // An older build (only 001) beside a newer schema lacks nothing: a rolling upgrade.
            let older = try Migrator(connection: connection, directory: try Fixtures.migrationsCopy())
            #expect(try await older.pendingMigrations().isEmpty)
        }
    }
}

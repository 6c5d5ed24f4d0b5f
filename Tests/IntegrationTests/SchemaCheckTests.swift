import AuditStore
import Foundation
import Testing

/// A worker with `database.migrate=false` checks the schema at start: it refuses a database that
/// lacks a migration it ships, naming the file and the command that applies it, and starts once
/// the schema is current. Generic over the migrations folder: the missing one is the newest.
@Suite struct SchemaCheckTests {
    static let migrationsFolder = IntegrationEnvironment.repositoryRoot.appendingPathComponent("schemas/migrations")

    static func environment(_ databaseURL: String) -> [String: String] {
        [
            "CHAPERONE_DATABASE_URL": databaseURL,
            "CHAPERONE_DATABASE_MIGRATE": "false",
            "CHAPERONE_DATABASE_MIGRATIONS": migrationsFolder.path,
            "CHAPERONE_HTTP_PORT": "0",
            // Never reached when the schema check refuses; unreachable otherwise, which is fine
            // for a worker that only has to get past its start-up checks.
            "CHAPERONE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "CHAPERONE_LOG_LEVEL": "info",
        ]
    }

    /// Waits until `condition` holds or `timeout` passes; returns whether it held.
    static func wait(_ timeout: Duration, until condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return condition()
    }

    @Test(.timeLimit(.minutes(2)))
    func aWorkerThatMustNotMigrateRefusesAnOlderSchema() async throws {
        let database = try await FreshDatabase.create(prefix: "chaperone_schema")
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-schema-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        do {
            let shipped = try Migration.load(from: Self.migrationsFolder)
            let newest = try #require(shipped.last)
            let connection = try await Connection.connect(url: database.url)
            try await Migrator(connection: connection, migrations: Array(shipped.dropLast())).migrate()

            let binary = try IntegrationEnvironment.testWorkerBinary()
            let refused = try WorkerProcess(binary: binary, id: "old-schema", environment: Self.environment(database.url), logFolder: logs)
            #expect(try await Self.wait(.seconds(30)) { !refused.isRunning }, "the worker stops at start: \(refused.logTail)")
            #expect(refused.process.terminationStatus != 0)
            let log = refused.logTail
            #expect(log.contains("the audit schema lacks migration \(newest.fileName);"), "\(log)")
            #expect(log.contains("run `chaperone audit migrate`"), "\(log)")
            let migrator = Migrator(connection: connection, migrations: shipped)
            #expect(try await migrator.pendingMigrations().map(\.fileName) == [newest.fileName], "the refusing worker changed nothing")

            try await migrator.migrate()
            let current = try WorkerProcess(binary: binary, id: "current-schema", environment: Self.environment(database.url), logFolder: logs)
            let started = try await Self.wait(.seconds(30)) { current.logTail.contains("audit schema ready (not migrating)") }
            #expect(started, "a current schema lets the worker start: \(current.logTail)")
            #expect(current.isRunning)
            _ = await current.terminate(timeout: .seconds(10))
            await connection.close()
        } catch { Issue.record(error) }
        await database.drop()
        try? FileManager.default.removeItem(at: logs)
    }
}

import AuditStore
import Foundation
import Testing
import TestSupport

/// A fresh, empty database per test on the PostgreSQL named by `CHAPERONE_TEST_POSTGRES_URL`
/// (a superuser URL), dropped afterwards.
struct TestDatabase {
    /// The superuser URL of the test server.
    let url: String
    /// The fresh database's name.
    let name: String

    /// libpq keywords that point a connection at the fresh database.
    var overrides: [String: String] { ["dbname": name] }

    static func superuserURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["CHAPERONE_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw SetupError(
                "CHAPERONE_TEST_POSTGRES_URL is not set: run `ops/lib/postgres.sh start`, then "
                    + "`eval \"$(ops/lib/postgres.sh env)\"` to export it, and run the tests again")
        }
        return url
    }

    /// Creates a database, runs `body` with it, and drops it (also when `body` throws).
    static func with<Value>(_ body: (TestDatabase) async throws -> Value) async throws -> Value {
        let url = try superuserURL()
        let name = "chaperone_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let admin = try await Connection.connect(url: url)
        try await admin.query("CREATE DATABASE \(identifier: String(name))")
        let database = TestDatabase(url: url, name: String(name))
        do {
            let value = try await body(database)
            try await admin.query("DROP DATABASE IF EXISTS \(identifier: String(name)) WITH (FORCE)")
            return value
        } catch {
            _ = try? await admin.query("DROP DATABASE IF EXISTS \(identifier: String(name)) WITH (FORCE)")
            throw error
        }
    }

    /// A superuser connection to this database.
    func connect() async throws -> Connection {
        try await Connection.connect(url: url, overrides: overrides)
    }

    /// A superuser connection to this database with all project migrations applied.
    func migrated() async throws -> Connection {
        let connection = try await connect()
        try await Migrator(connection: connection, directory: Fixtures.migrations).migrate()
        return connection
    }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum Fixtures {
    /// The repository root, found from this file's path.
    static let root = TestPaths.repositoryRoot

    /// The project's migrations folder.
    static let migrations = root.appendingPathComponent("schemas/migrations", isDirectory: true)

    /// The number of the project's newest migration.
    static func latestMigrationVersion() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: migrations.path)
            .compactMap { $0.hasSuffix(".sql") ? Int($0.prefix(while: \.isNumber)) : nil }.max() ?? 0
    }

    /// A temporary folder holding copies of the project's migrations up to version `upTo`
    /// (default: only the first, so tests of the migrator's mechanics can number their own
    /// files from 002 whatever the project adds later) plus `extra` files.
    static func migrationsCopy(upTo: Int = 1, extra: [String: String] = [:]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("chaperone-migrations-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: migrations.path)
        where name.hasSuffix(".sql") && (Int(name.prefix(while: \.isNumber)) ?? .max) <= upTo {
            try FileManager.default.copyItem(
                at: migrations.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        for (name, text) in extra {
            try Data(text.utf8).write(to: folder.appendingPathComponent(name))
        }
        return folder
    }

    /// A complete, valid decision whose JSON fields are already in jsonb's output form, so the
    /// stored record reads back equal to it.
    static func decision(
        id: String = "req-" + UUID().uuidString, tenant: String? = "acme", decision: DecisionRecord.Decision = .allow,
        prompt: String? = "a watercolor fox in the snow", payload: [UInt8] = Array("{\"result\":1}".utf8),
        offset: Int64 = 7
    ) -> DecisionRecord {
        DecisionRecord(
            requestID: id, tenant: tenant,
            decidedAt: SQLTimestamp(microsecondsSince1970: 1_764_000_000_123_456),
            decision: decision, reasonsJSON: #"["clean"]"#, prompt: prompt, negativePrompt: "blurry",
            mitigationsJSON: #"{"sld": "medium", "safegen": true}"#, scoresJSON: #"{"nudity": 0.12, "prompt": 0.03}"#,
            imageSHA256: String(repeating: "ab", count: 32), modelSHA256: String(repeating: "01", count: 32),
            overlaySHA256: String(repeating: "fe", count: 32), workerID: "worker-1",
            source: .init(topic: "chaperone.requests", partition: 2, offset: offset),
            publishedTopic: "chaperone.results", publishedPayload: payload,
            rawRequest: decision == .rejected ? Array("{not json".utf8) : nil)
    }
}

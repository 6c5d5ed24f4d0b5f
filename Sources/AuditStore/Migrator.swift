import Foundation
import Logging

/// Applies schema migrations to a database, in order, each once.
///
/// Each pending migration runs in its own transaction together with its row in
/// `schema_migrations` (version, name, sha256, applied_at), so a failure leaves the database
/// at the previous version. Several workers may start at once: a session advisory lock makes
/// them take turns, and the later ones find nothing left to do. A migration whose file changed
/// after it was applied (by sha256), was renamed, or is missing from the folder stops the run
/// before anything is applied.
public struct Migrator: Sendable {
    /// The advisory lock key all Chaperone migrators share (any fixed 64-bit number).
    public static let advisoryLockKey: Int64 = 0x4348_4150_4552_4F4E  // "CHAPERON"

    public let connection: Connection
    public let migrations: [Migration]
    let logger: Logger

    /// A migrator for `migrations` (see `Migration.load(from:)`).
    public init(connection: Connection, migrations: [Migration], logger: Logger = Logger(label: "chaperone.audit")) {
        self.connection = connection
        self.migrations = migrations
        self.logger = logger
    }

    /// A migrator for the files in `directory` (default `schemas/migrations` under the working directory).
    public init(connection: Connection, directory: URL = Migration.defaultDirectory, logger: Logger = Logger(label: "chaperone.audit")) throws {
        self.init(connection: connection, migrations: try Migration.load(from: directory), logger: logger)
    }

    /// What a run did.
    public struct Report: Sendable, Equatable {
        /// Migrations this run applied, in order.
        public var applied: [Int]
        /// How many were already applied before this run.
        public var alreadyApplied: Int
        /// The database's version after the run.
        public var version: Int

        public init(applied: [Int], alreadyApplied: Int, version: Int) {
            self.applied = applied
            self.alreadyApplied = alreadyApplied
            self.version = version
        }
    }

    /// Applies the pending migrations; returns what was done.
    @discardableResult
    public func migrate() async throws -> Report {
        try Migration.checkNumbering(migrations, in: "the migration list")
        let migrations = self.migrations
        // A migration may rightly run longer than the statement timeout meant for requests, and
        // waiting for another migrator's lock has no natural bound: neither is cut short.
        let report = try await connection.withSession { session in
            try session.withoutStatementTimeout { session in try Migrator.migrate(migrations, session: session) }
        }
        if !report.applied.isEmpty {
            logger.info("applied audit migrations", metadata: ["versions": "\(report.applied)", "version": "\(report.version)"])
        }
        return report
    }

    /// The migrations already applied, as recorded (empty on a fresh database).
    public func appliedVersions() async throws -> [AppliedMigration] {
        try await connection.withSession { session in try Migrator.recorded(session) }
    }

    /// The migrations of this build that the database has not applied, in version order (all of
    /// them on a database without `schema_migrations`).
    ///
    /// For a process that must not change the schema (a worker with `database.migrate` off): it
    /// should refuse to start while this is not empty, because its statements expect every
    /// shipped migration. Only reads, so the worker's role is enough. Migrations the database
    /// has beyond this build's are not reported: an older build beside a newer schema is the
    /// normal middle of a rolling upgrade (``migrate()`` refuses that case instead).
    public func pendingMigrations() async throws -> [Migration] {
        try Migration.checkNumbering(migrations, in: "the migration list")
        let applied = Set(try await appliedVersions().map(\.version))
        return migrations.filter { !applied.contains($0.version) }
    }

    /// One row of `schema_migrations`.
    public struct AppliedMigration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var sha256: String
        public var appliedAt: SQLTimestamp
    }

    static func migrate(_ migrations: [Migration], session: SQLSession) throws -> Report {
        try session.query("SELECT pg_advisory_lock(\(advisoryLockKey))")
        defer { _ = try? session.query("SELECT pg_advisory_unlock(\(advisoryLockKey))") }
        // Created only when missing, so a role without DDL rights (the worker's) can check an
        // up-to-date schema: CREATE … IF NOT EXISTS would still need CREATE on the schema.
        if try !tableExists(session) {
            try session.query(
                """
                CREATE TABLE schema_migrations (
                    version integer PRIMARY KEY CHECK (version > 0),
                    name text NOT NULL,
                    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        }
        let applied = try recorded(session)
        var checksums = [Int: String]()
        for migration in migrations {
            checksums[migration.version] = try sha256(migration.contents, session: session)
        }
        for row in applied {
            guard let migration = migrations.first(where: { $0.version == row.version }) else {
                throw AuditStoreError(
                    .migrationMismatch,
                    "the database has migration \(row.version) (\(row.name)) but the migrations folder has no file for it; "
                        + "this build is older than the database")
            }
            guard migration.name == row.name else {
                throw AuditStoreError(
                    .migrationMismatch,
                    "migration \(migration.fileName) was applied under the name '\(row.name)'; renaming applied migrations is refused")
            }
            guard checksums[migration.version] == row.sha256 else {
                throw AuditStoreError(
                    .migrationMismatch,
                    "migration \(migration.fileName) changed after it was applied (recorded sha256 \(row.sha256), "
                        + "file has \(checksums[migration.version] ?? "?")); add a new migration instead of editing an applied one")
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        var done = [Int]()
        for migration in migrations where !appliedVersions.contains(migration.version) {
            let checksum = checksums[migration.version]!
            do {
                try session.transaction { tx in
                    try tx.query(SQLQuery(unsafeSQL: String(decoding: migration.contents, as: UTF8.self)))
                    try tx.query(
                        """
                        INSERT INTO schema_migrations (version, name, sha256)
                        VALUES (\(migration.version), \(migration.name), \(checksum))
                        """)
                }
            } catch var error as AuditStoreError {
                error.message = "migration \(migration.fileName) failed: \(error.message)"
                throw error
            }
            done.append(migration.version)
        }
        return Report(applied: done, alreadyApplied: applied.count, version: migrations.last?.version ?? 0)
    }

    static func recorded(_ session: SQLSession) throws -> [AppliedMigration] {
        guard try tableExists(session) else { return [] }
        return try session.query("SELECT version, name, sha256, applied_at FROM schema_migrations ORDER BY version").map { row in
            AppliedMigration(
                version: try row.decode("version"), name: try row.decode("name"), sha256: try row.decode("sha256"),
                appliedAt: try row.decode("applied_at"))
        }
    }

    static func tableExists(_ session: SQLSession) throws -> Bool {
        try session.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
            .single("schema_migrations lookup").decode("present")
    }

    /// The SHA-256 of `bytes` in lowercase hex, computed by the server (no crypto dependency here).
    static func sha256(_ bytes: [UInt8], session: SQLSession) throws -> String {
        try session.query("SELECT encode(sha256(\(SQLBytes(bytes))::bytea), 'hex') AS digest")
            .single("sha256").decode("digest")
    }
}

import Foundation

/// One schema migration: a file `NNN_name.sql` in the migrations folder.
public struct Migration: Sendable, Hashable {
    /// The number in the file name (`001` → 1). Versions run 1, 2, 3, … without gaps.
    public var version: Int
    /// The name after the number (`001_decisions.sql` → `decisions`).
    public var name: String
    /// The file name, for messages.
    public var fileName: String
    /// The file's bytes, run as SQL.
    public var contents: [UInt8]

    public init(version: Int, name: String, fileName: String, contents: [UInt8]) {
        self.version = version
        self.name = name
        self.fileName = fileName
        self.contents = contents
    }

    /// The folder used when none is configured: `schemas/migrations` under the working directory.
    public static var defaultDirectory: URL {
        URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
            .appendingPathComponent("schemas/migrations", isDirectory: true)
    }

    /// Reads every `*.sql` file of `directory`, sorted by version.
    ///
    /// Throws `invalidMigrations`, naming the file, when the folder is unreadable, a `.sql` file
    /// is not named `NNN_name.sql`, two files share a version, versions skip a number or do not
    /// start at 1, or a file is not UTF-8 or holds a NUL byte.
    public static func load(from directory: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw AuditStoreError(.invalidMigrations, "cannot read the migrations folder \(directory.path)")
        }
        var migrations = [Migration]()
        for fileName in names where fileName.hasSuffix(".sql") {
            guard let (version, name) = parse(fileName: fileName) else {
                throw AuditStoreError(
                    .invalidMigrations,
                    "migration file \(fileName) in \(directory.path) is not named NNN_name.sql "
                        + "(digits, underscore, lowercase letters, digits or underscores)")
            }
            let url = directory.appendingPathComponent(fileName)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw AuditStoreError(.invalidMigrations, "cannot read migration file \(url.path)")
            }
            let bytes = [UInt8](data)
            guard String(validating: bytes, as: UTF8.self) != nil else {
                throw AuditStoreError(.invalidMigrations, "migration file \(url.path) is not valid UTF-8")
            }
            if let offset = bytes.firstIndex(of: 0) {
                throw AuditStoreError(.invalidMigrations, "migration file \(url.path) has a NUL byte at offset \(offset)")
            }
            migrations.append(Migration(version: version, name: name, fileName: fileName, contents: bytes))
        }
        migrations.sort { ($0.version, $0.fileName) < ($1.version, $1.fileName) }
        try checkNumbering(migrations, in: directory.path)
        return migrations
    }

    /// Refuses duplicate versions and gaps: versions must be exactly 1…n.
    static func checkNumbering(_ migrations: [Migration], in folder: String) throws {
        for (index, migration) in migrations.enumerated() {
            let expected = index + 1
            if index > 0, migrations[index - 1].version == migration.version {
                throw AuditStoreError(
                    .invalidMigrations,
                    "migrations \(migrations[index - 1].fileName) and \(migration.fileName) in \(folder) share version \(migration.version)")
            }
            if migration.version != expected {
                throw AuditStoreError(
                    .invalidMigrations,
                    "migration \(migration.fileName) in \(folder) has version \(migration.version) but \(expected) was expected "
                        + "(versions must run 1, 2, 3, … without gaps)")
            }
        }
    }

    /// `NNN_name.sql` → (NNN, name); at least three digits, name of `[a-z0-9_]`.
    static func parse(fileName: String) -> (Int, String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard digits.count >= 3, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            !name.isEmpty,
            name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLowercase || $0.isNumber)) }),
            let version = Int(digits)
        else { return nil }
        return (version, String(name))
    }
}

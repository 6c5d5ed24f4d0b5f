import Contracts
import ArgumentParser
import Configuration
import AuditStore
import Foundation
import Worker

/// `chaperone audit …`: the audit database: apply migrations, list decisions, count them.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Migrate and query the PostgreSQL audit log.",
        subcommands: [AuditMigrate.self, AuditQuery.self, AuditSummary.self, AuditImage.self, AuditServe.self, AuditUser.self]
    )
}

/// Where the audit database is: the flag, else `CHAPERONE_DATABASE_URL`, else the throwaway
/// cluster that `ops/lib/postgres.sh` runs in `var/postgres` of the working directory.
struct AuditDatabaseOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL of the audit database (CHAPERONE_DATABASE_URL). Default: the local throwaway cluster's socket in var/postgres.")
    var databaseURL: String?

    @Option(help: "JSON config file (also CHAPERONE_CONFIG), as the worker's: its database.url is used.")
    var config: String?

    /// The worker's configuration (flags, `CHAPERONE_*` environment, `--config` file), with
    /// `--database-url` as `database.url`.
    func configuration(flags extra: [String: ConfigContent] = [:]) async throws -> WorkerConfiguration {
        var flags = extra
        if let databaseURL, !databaseURL.isEmpty { flags["database.url"] = .string(databaseURL) }
        return try await WorkerConfiguration.loadForCommand(flags: flags, configFile: config)
    }

    /// The URL to connect to: the worker's `database.url` (flag, environment, config file),
    /// else the local throwaway cluster.
    func resolvedURL() async throws -> String {
        Self.url(of: try await configuration())
    }

    /// `database.url` of `configuration`, else the local throwaway cluster.
    static func url(of configuration: WorkerConfiguration) -> String {
        if let url = configuration.databaseURL, !url.isEmpty { return url }
        return localClusterURL(workingDirectory: FileManager.default.currentDirectoryPath)
    }

    /// The socket URL of `ops/lib/postgres.sh`'s default cluster under `workingDirectory`.
    static func localClusterURL(workingDirectory: String) -> String {
        let socketFolder = URL(fileURLWithPath: workingDirectory).appendingPathComponent("var/postgres").path
        let host = socketFolder.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socketFolder
        return "postgresql://postgres@\(host):54329/chaperone"
    }

    func repository() async throws -> AuditRepository {
        try await AuditRepository.connect(url: try await resolvedURL())
    }

    /// Runs `body`, turning a missing audit table into advice to migrate first.
    static func explained<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let error as AuditStoreError where error.sqlState == "42P01" {
            throw AuditCommandError(description: "\(error)\nThe audit schema is missing: run `chaperone audit migrate` first.")
        }
    }
}

/// A failure explained for the command line (printed without the usage text).
struct AuditCommandError: Error, CustomStringConvertible {
    let description: String
}

struct AuditMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply pending migrations (safe to run from several processes at once).")

    @OptionGroup var database: AuditDatabaseOptions

    @Option(help: "Folder of NNN_name.sql migrations (CHAPERONE_DATABASE_MIGRATIONS). Default: schemas/migrations.")
    var migrations: String?

    func run() async throws {
        var folder = migrations ?? ""
        if migrations == nil { folder = try await database.configuration().migrationsDirectory }
        let repository = try await database.repository()
        let migrator = try Migrator(connection: repository.connection, directory: URL(fileURLWithPath: folder, isDirectory: true))
        let report = try await migrator.migrate()
        if report.applied.isEmpty {
            print("audit schema up to date at version \(report.version)")
        } else {
            let applied = report.applied.map(String.init).joined(separator: ", ")
            print("applied migration(s) \(applied); audit schema now at version \(report.version)")
        }
    }
}

struct AuditQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "List recent decisions, newest first, as a table or JSON.")

    @OptionGroup var database: AuditDatabaseOptions

    @Option(help: "Only this tenant.")
    var tenant: String?

    @Option(help: "Only this decision: allow, censor, block or rejected.")
    var decision: String?

    @Option(help: "At most this many rows (1-10000).")
    var limit: Int = 20

    @Flag(help: "Print JSON (an array of objects) instead of a table.")
    var json = false

    func validate() throws {
        if let decision, DecisionRecord.Decision(rawValue: decision) == nil {
            throw ValidationError("--decision must be one of allow, censor, block, rejected")
        }
        guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
    }

    func run() async throws {
        let repository = try await database.repository()
        let entries = try await AuditDatabaseOptions.explained {
            try await repository.recentDecisions(
                tenant: tenant, decision: decision.flatMap(DecisionRecord.Decision.init(rawValue:)), limit: limit)
        }
        if json {
            try printJSON(entries.map(AuditEntryJSON.init))
            return
        }
        let rows = entries.map { entry in
            [
                entry.decidedAt.iso8601, entry.requestID, entry.tenant ?? "-", entry.decision.rawValue,
                "\(entry.topic)/\(entry.partition)@\(entry.offset)", entry.workerID,
                entry.imageSHA256.map { String($0.prefix(12)) } ?? "-", oneLine(entry.prompt ?? "", max: 48),
            ]
        }
        printTable(header: ["decided_at", "request_id", "tenant", "decision", "source", "worker", "image", "prompt"], rows: rows)
    }
}

struct AuditSummary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary", abstract: "Count decisions by tenant and decision.")

    @OptionGroup var database: AuditDatabaseOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let repository = try await database.repository()
        let counts = try await AuditDatabaseOptions.explained { try await repository.summary() }
        if json {
            try printJSON(counts)
            return
        }
        var rows = counts.map { [$0.tenant ?? "-", $0.decision.rawValue, String($0.count)] }
        rows.append(["total", "", String(counts.reduce(0) { $0 + $1.count })])
        printTable(header: ["tenant", "decision", "count"], rows: rows)
    }
}

/// Writes an image from the audit database's image store (a result's
/// `image_ref: postgresql:images/<sha256>`) to a file, checking its hash.
struct AuditImage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Write an image of the image store (postgresql:images/<sha256>) to a file.")

    @OptionGroup var database: AuditDatabaseOptions

    @Argument(help: "The image's SHA-256 (hex), or its reference postgresql:images/<sha256>.")
    var image: String

    @Option(name: [.short, .long], help: "Where to write the PNG.")
    var output: String

    func run() async throws {
        let sha = image.hasPrefix("postgresql:images/") ? String(image.dropFirst("postgresql:images/".count)) : image
        guard sha.count == 64, sha.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw AuditCommandError(description: "'\(image)' is neither a lowercase hex SHA-256 nor postgresql:images/<sha256>")
        }
        let repository = try await database.repository()
        guard let bytes = try await AuditDatabaseOptions.explained({ try await repository.image(sha256: sha) }) else {
            throw AuditCommandError(description: "no image \(sha) in the image store")
        }
        guard SHA256.hex(bytes) == sha else {
            throw AuditCommandError(description: "the stored image does not hash to \(sha)")
        }
        try Data(bytes).write(to: URL(fileURLWithPath: output))
        print(output)
    }
}

/// `AuditEntry` with its JSON columns embedded as JSON rather than as strings.
private struct AuditEntryJSON: Encodable {
    let entry: AuditEntry

    enum Key: String, CodingKey {
        case requestID = "request_id", requestIDSynthetic = "request_id_synthetic", tenant
        case decidedAt = "decided_at", decision, reasons, prompt
        case negativePrompt = "negative_prompt", mitigations, scores
        case imageSHA256 = "image_sha256", modelSHA256 = "model_sha256", overlaySHA256 = "overlay_sha256"
        case workerID = "worker_id", topic, partition, offset
        case publishedTopic = "published_topic"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(entry.requestID, forKey: .requestID)
        try c.encode(entry.requestIDIsSynthetic, forKey: .requestIDSynthetic)
        try c.encode(entry.tenant, forKey: .tenant)
        try c.encode(entry.decidedAt, forKey: .decidedAt)
        try c.encode(entry.decision, forKey: .decision)
        try c.encode(RawJSON(text: entry.reasonsJSON), forKey: .reasons)
        try c.encode(entry.prompt, forKey: .prompt)
        try c.encode(entry.negativePrompt, forKey: .negativePrompt)
        try c.encode(entry.mitigationsJSON.map(RawJSON.init), forKey: .mitigations)
        try c.encode(entry.scoresJSON.map(RawJSON.init), forKey: .scores)
        try c.encode(entry.imageSHA256, forKey: .imageSHA256)
        try c.encode(entry.modelSHA256, forKey: .modelSHA256)
        try c.encode(entry.overlaySHA256, forKey: .overlaySHA256)
        try c.encode(entry.workerID, forKey: .workerID)
        try c.encode(entry.topic, forKey: .topic)
        try c.encode(entry.partition, forKey: .partition)
        try c.encode(entry.offset, forKey: .offset)
        try c.encode(entry.publishedTopic, forKey: .publishedTopic)
    }
}

/// A JSON text re-encoded as the value it holds (null when it does not parse).
private struct RawJSON: Encodable {
    let text: String

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(try? JSONDecoder().decode(AnyJSON.self, from: Data(text.utf8)))
    }
}

/// Any JSON value, decoded and encoded as it is.
private enum AnyJSON: Codable {
    case null, bool(Bool), integer(Int64), number(Double), string(String), array([AnyJSON]), object([String: AnyJSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null
        } else if let v = try? c.decode(Bool.self) { self = .bool(v)
        } else if let v = try? c.decode(Int64.self) { self = .integer(v)
        } else if let v = try? c.decode(Double.self) { self = .number(v)
        } else if let v = try? c.decode(String.self) { self = .string(v)
        } else if let v = try? c.decode([AnyJSON].self) { self = .array(v)
        } else { self = .object(try c.decode([String: AnyJSON].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let v): try c.encode(v)
        case .integer(let v): try c.encode(v)
        case .number(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        }
    }
}

private func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// `text` on one line (control characters shown as spaces), cut to `max` characters.
private func oneLine(_ text: String, max: Int) -> String {
    let flat = String(text.map { $0.isNewline || $0.unicodeScalars.allSatisfy({ $0.properties.generalCategory == .control }) ? " " : $0 })
    return flat.count > max ? String(flat.prefix(max - 1)) + "…" : flat
}

private func printTable(header: [String], rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows {
        for (i, cell) in row.enumerated() { widths[i] = Swift.max(widths[i], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in cell + String(repeating: " ", count: widths[i] - cell.count) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    print(line(header))
    print(line(widths.map { String(repeating: "-", count: $0) }))
    for row in rows { print(line(row)) }
}

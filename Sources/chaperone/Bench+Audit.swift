import ArgumentParser
import AuditStore
import Foundation

/// `chaperone bench audit`: what the audit log costs a worker per request, on a fresh database.
///
/// Measures the latency of a new decision's insert (the path of every request), of a
/// duplicate's insert (a redelivery: conflict, then the stored row and payload read back),
/// and of a lookup by request id, with a payload of the given size standing in for the
/// published result. The database is created, migrated and dropped by the benchmark.
struct BenchAudit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Measure audit insert, duplicate-insert and lookup latency on PostgreSQL; print JSON."
    )

    @Option(help: "Superuser PostgreSQL URL (CHAPERONE_TEST_POSTGRES_URL); a scratch database is created on it.")
    var databaseURL: String?

    @Option(help: "Decisions inserted (and then re-inserted and looked up).")
    var samples: Int = 500

    @Option(help: "Published payload bytes stored with each decision.")
    var payloadBytes: Int = 65_536

    func validate() throws {
        guard samples > 0, payloadBytes >= 0 else {
            throw ValidationError("--samples must be positive and --payload-bytes not negative")
        }
    }

    struct Latency: Codable, Sendable {
        var samples: Int
        var p50Ms: Double
        var p99Ms: Double
        var meanMs: Double

        init(_ seconds: [Double]) {
            let sorted = seconds.sorted()
            samples = sorted.count
            p50Ms = sorted[sorted.count / 2] * 1000
            p99Ms = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))] * 1000
            meanMs = sorted.reduce(0, +) / Double(sorted.count) * 1000
        }
    }

    struct Result: Codable, Sendable {
        var benchmark = "audit"
        var payloadBytes: Int
        var insert: Latency
        var duplicateInsert: Latency
        var lookup: Latency
        var insertsPerSecond: Double
        var machine: BenchMachine
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let url = databaseURL ?? environment["CHAPERONE_TEST_POSTGRES_URL"] else {
            throw ValidationError("pass --database-url or set CHAPERONE_TEST_POSTGRES_URL (ops/lib/postgres.sh env)")
        }
        let name = "chaperone_bench_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try await Connection.connect(url: url)
        try await admin.query("CREATE DATABASE \(identifier: name)")
        do {
            let result = try await measure(url: url, database: name)
            try await admin.query("DROP DATABASE \(identifier: name) WITH (FORCE)")
            try printBenchJSON(result)
        } catch {
            _ = try? await admin.query("DROP DATABASE \(identifier: name) WITH (FORCE)")
            throw error
        }
    }

    private func measure(url: String, database: String) async throws -> Result {
        let connection = try await Connection.connect(url: url, overrides: ["dbname": database])
        try await Migrator(connection: connection).migrate()
        let repository = AuditRepository(connection: connection)
        let payload = (0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) }
        let records = (0..<samples).map { i in
            DecisionRecord(
                requestID: "bench-\(i)", tenant: "tenant-\(i % 4)", decidedAt: SQLTimestamp(Date()), decision: .allow,
                reasonsJSON: #"["clean"]"#, prompt: "a lighthouse on a cliff at dusk, oil painting, request \(i)",
                negativePrompt: "blurry", mitigationsJSON: #"{"safegen": true}"#, scoresJSON: #"{"nudity": 0.01}"#,
                imageSHA256: String(repeating: "ab", count: 32), modelSHA256: String(repeating: "cd", count: 32),
                overlaySHA256: nil, workerID: "bench", source: .init(topic: "chaperone.requests", partition: 0, offset: Int64(i)),
                publishedTopic: "chaperone.results", publishedPayload: payload, rawRequest: nil)
        }
        let clock = ContinuousClock()
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        var inserts = [Double]()
        let start = clock.now
        for record in records {
            let began = clock.now
            _ = try await repository.insertDecision(record)
            inserts.append(seconds(clock.now - began))
        }
        let insertTotal = seconds(clock.now - start)
        var duplicates = [Double]()
        for record in records {
            let began = clock.now
            let outcome = try await repository.insertDecision(record)
            duplicates.append(seconds(clock.now - began))
            guard !outcome.wasInserted, outcome.record.publishedPayload.count == payloadBytes else {
                throw ValidationError("duplicate insert of \(record.requestID) did not return the stored row")
            }
        }
        var lookups = [Double]()
        for record in records {
            let began = clock.now
            _ = try await repository.decision(requestID: record.requestID)
            lookups.append(seconds(clock.now - began))
        }
        await connection.close()
        return Result(
            payloadBytes: payloadBytes, insert: Latency(inserts), duplicateInsert: Latency(duplicates),
            lookup: Latency(lookups), insertsPerSecond: Double(samples) / insertTotal, machine: .current())
    }
}

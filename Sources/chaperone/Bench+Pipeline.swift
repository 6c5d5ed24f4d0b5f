import ArgumentParser
import AuditStore
import Contracts
import Moderation
import Foundation
import Kafka
import Logging
import Synchronization
import Worker

/// `chaperone bench pipeline`: the streaming backbone's own cost, without a diffusion model.
///
/// Runs the real worker (Kafka consumer and producer against an in-process librdkafka mock
/// cluster, PostgreSQL audit inserts, offset commits) with a trivial generator that returns a
/// fixed 64x64 PNG at once, so what is measured is decode, audit insert, publish and commit.
/// Reports per-stage latency (mean, p50, p95 in ms) from the 1-worker run, and throughput
/// (requests/s, timed from the first to the last audit row) with 1 and 2 in-process workers in
/// one consumer group. Each run uses a fresh database (created and dropped; needs a superuser URL).
struct BenchPipeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Measure the worker backbone's overhead per request and its throughput; print JSON.")

    @Option(help: "PostgreSQL superuser URL (CHAPERONE_DATABASE_URL, else CHAPERONE_TEST_POSTGRES_URL).")
    var databaseURL: String?

    @Option(help: "Requests per run.")
    var requests: Int = 200

    @Option(help: "Worker counts to run, comma-separated.")
    var workers: String = "1,2"

    @Option(help: "Folder of the audit migrations.")
    var migrations: String = "schemas/migrations"

    @Option(help: "librdkafka fetch.error.backoff.ms of the workers' consumers (the wait before fetching again after a resume).")
    var fetchBackoffMs: Int?

    @Option(help: "librdkafka fetch.wait.max.ms of the workers' consumers.")
    var fetchWaitMs: Int?

    @Flag(help: "Log the workers' progress to standard error.")
    var verbose = false

    var consumerProperties: [String: String] {
        var properties: [String: String] = [:]
        if let fetchBackoffMs { properties["fetch.error.backoff.ms"] = String(fetchBackoffMs) }
        if let fetchWaitMs { properties["fetch.wait.max.ms"] = String(fetchWaitMs) }
        return properties
    }

    func validate() throws {
        guard requests >= 2 else { throw ValidationError("--requests must be at least 2") }
        guard !workerCounts.isEmpty, workerCounts.allSatisfy({ $0 >= 1 && $0 <= 8 }) else {
            throw ValidationError("--workers must be a comma-separated list of counts 1 to 8")
        }
    }

    var workerCounts: [Int] { workers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    struct StageStats: Codable, Sendable {
        var count: Int
        var meanMs: Double
        var p50Ms: Double
        var p95Ms: Double
    }

    struct Run: Codable, Sendable {
        var workers: Int
        var requests: Int
        var seconds: Double
        var requestsPerSecond: Double
    }

    struct Report: Codable, Sendable {
        var benchmark = "pipeline"
        var machine: BenchMachine
        var partitions: Int
        var stagesOneWorker: [String: StageStats]
        var backboneOverheadMs: Double
        var runs: [Run]
        var peakRssBytes: UInt64?
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let url = databaseURL ?? environment["CHAPERONE_DATABASE_URL"] ?? environment["CHAPERONE_TEST_POSTGRES_URL"] else {
            throw ValidationError("no database: pass --database-url or set CHAPERONE_DATABASE_URL (start one with ops/lib/postgres.sh start)")
        }
        var logger = Logger(label: "chaperone.bench.pipeline")
        logger.logLevel = verbose ? .info : .error
        let cluster = try MockCluster(brokers: 1, logger: logger)
        let partitions = 6
        var runs: [Run] = []
        var stages: [String: StageStats] = [:]
        for (index, count) in workerCounts.enumerated() {
            let timings = StageRecorder()
            let run = try await measure(workers: count, runIndex: index, cluster: cluster, partitions: partitions, adminURL: url, timings: timings, logger: logger)
            runs.append(run)
            if count == 1 || stages.isEmpty { stages = timings.summary() }
        }
        let overhead = ["decode", "audit_insert", "publish", "commit"].compactMap { stages[$0]?.meanMs }.reduce(0, +)
        try printBenchJSON(Report(
            machine: .current(), partitions: partitions, stagesOneWorker: stages, backboneOverheadMs: overhead, runs: runs,
            peakRssBytes: peakResidentSetBytes()))
    }

    private func measure(
        workers count: Int, runIndex: Int, cluster: MockCluster, partitions: Int, adminURL: String, timings: StageRecorder, logger: Logger
    ) async throws -> Run {
        let database = "chaperone_bench_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await Connection.connect(url: adminURL, logger: logger)
        try await admin.query("CREATE DATABASE \(identifier: database)")
        defer { Task { _ = try? await admin.query("DROP DATABASE IF EXISTS \(identifier: database) WITH (FORCE)") } }
        let overrides = ["dbname": database]
        let migrator = try Migrator(
            connection: try await Connection.connect(url: adminURL, overrides: overrides, logger: logger),
            directory: URL(fileURLWithPath: migrations, isDirectory: true), logger: logger)
        _ = try await migrator.migrate()

        let topics = WorkerTopics(requests: "bench.requests.\(runIndex)", results: "bench.results.\(runIndex)", deadLetters: "bench.dlq.\(runIndex)")
        try cluster.createTopic(topics.requests, partitions: partitions)
        try cluster.createTopic(topics.results, partitions: partitions)
        try cluster.createTopic(topics.deadLetters, partitions: 1)

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        for index in 0..<requests {
            let request = GenerationRequest(requestID: "bench-\(runIndex)-\(index)", tenant: "bench", prompt: "a lighthouse \(index)",
                                            seed: UInt64(index), width: 64, height: 64, steps: 1)
            try await producer.send(topic: topics.requests, key: request.requestID, value: Array(try JSONEncoder().encode(request)))
        }
        try await producer.flush()
        try await producer.close()

        let counter = AuditRepository(connection: try await Connection.connect(url: adminURL, overrides: overrides, logger: logger))
        let clock = ContinuousClock()
        var firstRow: ContinuousClock.Instant?
        let seconds: Double = try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<count {
                let service = try await makeWorker(
                    id: "bench-w\(worker)", topics: topics, group: "bench-\(runIndex)", cluster: cluster, adminURL: adminURL,
                    overrides: overrides, timings: timings, logger: logger)
                group.addTask { try await service.run() }
            }
            let deadline = clock.now + .seconds(300)
            while true {
                let rows = try await counter.count()
                if rows > 0, firstRow == nil { firstRow = clock.now }
                if rows >= requests { break }
                guard clock.now < deadline else { throw ValidationError("only \(rows) of \(requests) requests processed within 300 s") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let elapsed = clock.now - (firstRow ?? clock.now)
            group.cancelAll()
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        return Run(workers: count, requests: requests, seconds: seconds, requestsPerSecond: Double(requests - 1) / max(seconds, 1e-9))
    }

    private func makeWorker(
        id: String, topics: WorkerTopics, group: String, cluster: MockCluster, adminURL: String, overrides: [String: String],
        timings: StageRecorder, logger: Logger
    ) async throws -> WorkerService {
        var consumerConfiguration = KafkaConsumerConfiguration(bootstrapServers: cluster.bootstrapServers, groupID: group, topics: [topics.requests])
        consumerConfiguration.clientID = id
        consumerConfiguration.additionalProperties = consumerProperties
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers)
        producerConfiguration.clientID = id
        producerConfiguration.linger = .milliseconds(0)
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        let repository = AuditRepository(connection: try await Connection.connect(url: adminURL, overrides: overrides, logger: logger))
        let processor = RequestProcessor(
            settings: .init(workerID: id, topics: topics),
            components: .init(
                generator: TrivialGenerator(), scorer: NoScores(), policy: ThresholdPolicy(rules: []), censor: NoCensor(),
                audit: TimedAudit(inner: (repository), timings: timings),
                publisher: TimedPublisher(inner: KafkaResultPublisher(producer: producer, consumer: consumer), timings: timings)),
            health: WorkerHealth(), logger: logger)
        return WorkerService(consumer: TimedDecodeConsumer(inner: KafkaRequestConsumer(consumer: consumer), timings: timings),
                             processor: processor, health: WorkerHealth(), logger: logger, pollTimeout: .milliseconds(20))
    }
}

/// Collects per-stage durations from several tasks.
final class StageRecorder: Sendable {
    private let samples = Mutex<[String: [Double]]>([:])

    func record(_ stage: String, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        samples.withLock { $0[stage, default: []].append(ms) }
    }

    func summary() -> [String: BenchPipeline.StageStats] {
        samples.withLock { all in
            all.mapValues { values in
                let sorted = values.sorted()
                func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))] }
                return .init(count: sorted.count, meanMs: sorted.reduce(0, +) / Double(sorted.count), p50Ms: percentile(0.5), p95Ms: percentile(0.95))
            }
        }
    }
}

/// Times the request decoder on each message the consumer returns (the same work the
/// processor does first), so decode cost is reported beside the I/O stages.
struct TimedDecodeConsumer: RequestConsuming {
    let inner: any RequestConsuming
    let timings: StageRecorder

    func poll(timeout: Duration) async throws -> ConsumerEvent? {
        let event = try await inner.poll(timeout: timeout)
        if case .message(let message)? = event {
            let start = ContinuousClock.now
            _ = RequestValidator().decode(message.value)
            timings.record("decode", since: start)
        }
        return event
    }

    func pauseAll() async throws { try await inner.pauseAll() }
    func resumeAll() async throws { try await inner.resumeAll() }
    func close() async throws { try await inner.close() }
}

struct TimedAudit: AuditLog {
    let inner: any AuditLog
    let timings: StageRecorder

    func decision(requestID: String) async throws -> DecisionRecord? {
        let start = ContinuousClock.now
        defer { timings.record("audit_lookup", since: start) }
        return try await inner.decision(requestID: requestID)
    }

    func insertDecision(_ entry: DecisionRecord) async throws -> InsertOutcome {
        let start = ContinuousClock.now
        defer { timings.record("audit_insert", since: start) }
        return try await inner.insertDecision(entry)
    }

    func recordProcessingStart(of source: SourcePosition, workerID: String) async throws -> Int {
        let start = ContinuousClock.now
        defer { timings.record("attempt_count", since: start) }
        return try await inner.recordProcessingStart(of: source, workerID: workerID)
    }

    func retractProcessingStart(of source: SourcePosition) async throws {
        try await inner.retractProcessingStart(of: source)
    }

    func clearProcessingStarts(of source: SourcePosition) async throws {
        let start = ContinuousClock.now
        defer { timings.record("attempt_count", since: start) }
        try await inner.clearProcessingStarts(of: source)
    }

    func keepWithheldImage(sha256: String, bytes: [UInt8]) async throws {
        let start = ContinuousClock.now
        defer { timings.record("withheld_image", since: start) }
        try await inner.keepWithheldImage(sha256: sha256, bytes: bytes)
    }
}

struct TimedPublisher: ResultPublishing {
    let inner: any ResultPublishing
    let timings: StageRecorder
    var isTransactional: Bool { inner.isTransactional }

    func publish(topic: String, key: String, payload: [UInt8]) async throws {
        let start = ContinuousClock.now
        defer { timings.record("publish", since: start) }
        try await inner.publish(topic: topic, key: key, payload: payload)
    }

    func commit(_ consumed: SourcePosition) async throws {
        let start = ContinuousClock.now
        defer { timings.record("commit", since: start) }
        try await inner.commit(consumed)
    }

    func publishAndCommit(topic: String, key: String, payload: [UInt8], offset consumed: SourcePosition) async throws {
        let start = ContinuousClock.now
        defer { timings.record("publish_and_commit", since: start) }
        try await inner.publishAndCommit(topic: topic, key: key, payload: payload, offset: consumed)
    }
}

/// Returns the same small image at once: the benchmark measures everything but generation.
struct TrivialGenerator: ImageGenerating {
    let modelSHA256 = String(repeating: "0", count: 64)
    /// A fixed payload the size of a small PNG.
    let png = [UInt8](repeating: 0x42, count: 4096)

    func generate(_ request: GenerationRequest, plan: MitigationPlan, progress: @escaping @Sendable (GenerationProgress) -> Void) async throws -> GeneratedImage {
        GeneratedImage(png: png, rgb: [0, 0, 0], width: 1, height: 1, modelSHA256: modelSHA256, overlaySHA256: nil,
                       appliedMitigations: AppliedMitigations(safegen: plan.mitigations.safegen == true))
    }
}

struct NoScores: RequestScoring {
    func scorePrompt(_ request: GenerationRequest) async throws -> [HarmScore] { [] }
    func scoreImage(_ image: GeneratedImage, request: GenerationRequest) async throws -> [HarmScore] { [] }
}

struct NoCensor: ImageCensoring {
    func censor(_ image: GeneratedImage, reasons: [DecisionReason]) throws -> [UInt8] { [] }
}

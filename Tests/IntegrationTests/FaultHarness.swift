import AuditStore
import Contracts
import Moderation
import Foundation
import Kafka
import Synchronization
import Testing
import Worker
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// Whether the long variants of the fault tests run (`CHAPERONE_LONG_FAULTS=1`).
let longFaults = ProcessInfo.processInfo.environment["CHAPERONE_LONG_FAULTS"] == "1"

/// One end-to-end run for the fault tests: a mock Kafka cluster, a fresh audit database (or a
/// given one), `chaperone-test-worker` processes in one group, a producer of requests that
/// remembers where each landed, and a watcher of the result and DLQ topics. ``verify()``
/// checks the invariant: exactly one audit row per request and no others, at least one
/// published copy per request, every copy byte-identical to its row's payload.
final class FaultRun {
    struct Options {
        var name: String
        var brokers = 1
        var partitions = 6
        var workers = 3
        var transactional = false
        /// Sleep per denoising step in the test worker.
        var stepDelayMilliseconds = 10
        var steps = 4
        /// Serve /metrics, /health and /ready on a free loopback port per worker.
        var statusPorts = false
        /// An existing database to use (a separate PostgreSQL cluster); nil: a fresh database
        /// in the shared test cluster, dropped at the end.
        var databaseURL: String?
        var limits = RequestLimits()
        /// More worker environment (overrides the defaults).
        var environment: [String: String] = [:]
    }

    /// The numbers of a verified run.
    struct Report: CustomStringConvertible {
        var requests = 0
        var auditRows = 0
        var messages = 0
        var duplicates = 0
        var lost = 0
        var mismatched = 0
        var p50Milliseconds = 0.0
        var p99Milliseconds = 0.0

        var description: String {
            "requests=\(requests) audit_rows=\(auditRows) messages=\(messages) duplicates=\(duplicates) lost=\(lost) mismatched=\(mismatched) "
                + "p50_ms=\(Int(p50Milliseconds)) p99_ms=\(Int(p99Milliseconds))"
        }

        var json: String {
            """
            {"requests": \(requests), "audit_rows": \(auditRows), "result_messages": \(messages), "duplicates_identical": \(duplicates), \
            "lost": \(lost), "mismatched": \(mismatched), "p50_ms": \(Int(p50Milliseconds)), "p99_ms": \(Int(p99Milliseconds))}
            """
        }
    }

    let options: Options
    let cluster: MockCluster
    let topics: WorkerTopics
    let groupID: String
    let databaseURL: String
    private let freshDatabase: FreshDatabase?
    let logs: URL
    let binary: String
    let environment: [String: String]
    private(set) var workers: [WorkerProcess] = []
    /// Loopback status port of each worker slot (when `statusPorts`).
    private(set) var ports: [Int] = []
    private let producer: KafkaProducer
    private let watcher: KafkaConsumer
    private let validator: RequestValidator

    /// Where each request landed, by audit id.
    private(set) var expected: [String: SourcePosition] = [:]
    private(set) var producedAt: [String: ContinuousClock.Instant] = [:]
    private(set) var firstSeenAt: [String: ContinuousClock.Instant] = [:]
    /// Every published copy seen, by key.
    private(set) var messages: [String: [[UInt8]]] = [:]
    /// The headers of every published copy, by key.
    private(set) var publishedHeaders: [String: [[KafkaHeader]]] = [:]
    private var sequence = 0

    init(_ options: Options) async throws {
        self.options = options
        binary = try IntegrationEnvironment.testWorkerBinary()
        let suffix = UInt32.random(in: 0...UInt32.max)
        if let url = options.databaseURL {
            databaseURL = url
            freshDatabase = nil
        } else {
            let database = try await FreshDatabase.create(prefix: "chaperone_fault")
            databaseURL = database.url
            freshDatabase = database
        }
        cluster = try MockCluster(brokers: options.brokers)
        topics = WorkerTopics(requests: "\(options.name).requests", results: "\(options.name).results", deadLetters: "\(options.name).requests.dlq")
        try cluster.createTopic(topics.requests, partitions: options.partitions)
        try cluster.createTopic(topics.results, partitions: 3)
        try cluster.createTopic(topics.deadLetters, partitions: 1)
        groupID = "\(options.name)-workers-\(suffix)"
        logs = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-faults-\(options.name)-\(suffix)")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        var environment = [
            "CHAPERONE_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrapServers,
            "CHAPERONE_TEST_TRANSACTIONAL": options.transactional ? "1" : "0",
            "CHAPERONE_KAFKA_GROUP_ID": groupID,
            "CHAPERONE_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "CHAPERONE_TOPICS_REQUESTS": topics.requests,
            "CHAPERONE_TOPICS_RESULTS": topics.results,
            "CHAPERONE_TOPICS_DLQ": topics.deadLetters,
            "CHAPERONE_DATABASE_URL": databaseURL,
            "CHAPERONE_DATABASE_MIGRATIONS": IntegrationEnvironment.repositoryRoot.appendingPathComponent("schemas/migrations").path,
            "CHAPERONE_HTTP_PORT": "0",
            "CHAPERONE_LIMITS_MAX_MESSAGE_BYTES": "\(options.limits.maxMessageBytes)",
            "CHAPERONE_LIMITS_MAX_PROMPT_LENGTH": "\(options.limits.maxPromptLength)",
            "CHAPERONE_TEST_STEP_DELAY_MS": "\(options.stepDelayMilliseconds)",
            "CHAPERONE_SHUTDOWN_MAX_SECONDS": "10",
            "CHAPERONE_LOG_LEVEL": "info",
        ]
        // CHAPERONE_KAFKA_TEST_DEBUG=1 (or librdkafka debug contexts) logs the workers' group protocol.
        if let debug = ProcessInfo.processInfo.environment["CHAPERONE_KAFKA_TEST_DEBUG"], !debug.isEmpty {
            environment["CHAPERONE_TEST_KAFKA_DEBUG"] = debug == "1" ? "cgrp" : debug
            environment["CHAPERONE_LOG_LEVEL"] = "debug"
        }
        environment.merge(options.environment) { _, new in new }
        self.environment = environment
        validator = RequestValidator(limits: options.limits)

        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers)
        producerConfiguration.linger = .milliseconds(1)
        // Hostile-input tests send messages past librdkafka's default 1,000,000-byte limit.
        producerConfiguration.messageMaxBytes = 4_000_000
        producer = try KafkaProducer(configuration: producerConfiguration)
        var watcherConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: cluster.bootstrapServers, groupID: "\(options.name)-watcher-\(suffix)", topics: [topics.results, topics.deadLetters])
        watcherConfiguration.isolationLevel = .readCommitted
        watcherConfiguration.additionalProperties = ["fetch.wait.max.ms": "50"]
        watcher = try KafkaConsumer(configuration: watcherConfiguration)

        for index in 0..<options.workers {
            ports.append(options.statusPorts ? try freeLoopbackPort() : 0)
            workers.append(try launch(index))
        }
    }

    /// Processes started per worker slot so far.
    private var launches: [Int: Int] = [:]

    /// Starts the process of worker slot `index` (with `overrides` on top of the run's environment).
    /// Every process gets its own worker id, hence its own static membership id: `w<slot>` for
    /// the first, `w<slot>-r<n>` for the nth restart, so a restarted worker joins as a new
    /// member (a rebalance) as it would without static membership. The slot keeps the
    /// transactional id, so a restart still fences the killed process's open transaction.
    private func launch(_ index: Int, overrides: [String: String] = [:]) throws -> WorkerProcess {
        var environment = self.environment
        if options.statusPorts { environment["CHAPERONE_HTTP_PORT"] = "\(ports[index])" }
        environment.merge(overrides) { _, new in new }
        let restarts = launches[index, default: 0]
        launches[index] = restarts + 1
        let slot = "w\(index)"
        return try WorkerProcess(binary: binary, id: restarts == 0 ? slot : "\(slot)-r\(restarts)", slot: slot,
                                 environment: environment, logFolder: logs)
    }

    /// Replaces worker `index` by a new process (after a kill, or to change its environment).
    func restart(_ index: Int, overrides: [String: String] = [:]) throws {
        workers[index].kill9()
        workers[index] = try launch(index, overrides: overrides)
    }

    /// Adds one more worker to the group (a rebalance).
    @discardableResult
    func addWorker(overrides: [String: String] = [:]) throws -> Int {
        ports.append(options.statusPorts ? try freeLoopbackPort() : 0)
        workers.append(try launch(workers.count, overrides: overrides))
        return workers.count - 1
    }

    // MARK: Requests

    /// A valid request; prompts steer the test worker's decisions (allow, censor, block).
    func validRequest(_ id: String, prompt: String? = nil, negativePrompt: String = "") -> [UInt8] {
        let prompts = ["a lighthouse at dawn", "two knights in a fight", "a gore scene", "a bowl of fruit", "a mountain lake"]
        var request = GenerationRequest(
            requestID: id, tenant: sequence % 2 == 0 ? "acme" : "globex", prompt: prompt ?? prompts[sequence % prompts.count],
            seed: UInt64(sequence), width: 64, height: 64, steps: options.steps)
        request.negativePrompt = negativePrompt
        if sequence % 7 == 3 { request.mitigations = Mitigations(safegen: true, safetyGuidance: SafetyGuidance(preset: .medium)) }
        sequence += 1
        return Array(try! JSONEncoder().encode(request))
    }

    /// Produces `value` (keyed by its readable request id) and records where it landed:
    /// on `partition` when given, else where the key hashes to. Returns the id its audit row
    /// and published copy carry. `storedUnderPosition`: the message's audit row is expected
    /// under the synthetic id of its position (a reused request id with other bytes, a poison
    /// message).
    @discardableResult
    func produce(_ value: [UInt8], partition: Int32? = nil, storedUnderPosition: Bool = false, headers: [KafkaHeader] = []) async throws -> String {
        let readableID = (try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])?["request_id"] as? String
        let report = try await producer.send(
            topic: topics.requests, key: readableID.map { Array($0.utf8) }, value: value, headers: headers, partition: partition)
        let source = SourcePosition(topic: report.topic, partition: report.partition, offset: report.offset)
        let auditID: String
        switch validator.decode(value) {
        case _ where storedUnderPosition:
            auditID = source.syntheticRequestID
        case .success(let request): auditID = request.requestID
        case .failure(let rejection):
            auditID = rejection.requestID ?? source.syntheticRequestID
        }
        #expect(expected[auditID] == nil, "duplicate test id \(auditID)")
        expected[auditID] = source
        producedAt[auditID] = .now
        return auditID
    }

    /// Produces `count` valid requests `<prefix>-NNNN` concurrently (the producer batches).
    @discardableResult
    func produceValid(_ count: Int, prefix: String) async throws -> [String] {
        var ids: [String] = []
        for index in 0..<count {
            ids.append(try await produce(validRequest(String(format: "\(prefix)-%04d", index))))
        }
        return ids
    }

    // MARK: Watching

    /// Polls the watcher once (up to `timeout`), recording any published copy.
    func pollOnce(timeout: Duration = .milliseconds(100)) async throws {
        if case .message(let message)? = try await watcher.poll(timeout: timeout), let key = message.keyString {
            messages[key, default: []].append(message.value)
            publishedHeaders[key, default: []].append(message.headers)
            if firstSeenAt[key] == nil { firstSeenAt[key] = .now }
        }
    }

    /// Watches for `duration`.
    func watch(for duration: Duration) async throws {
        let until = ContinuousClock.now + duration
        while ContinuousClock.now < until { try await pollOnce() }
    }

    /// Watches until `condition` holds or `timeout` passes; returns whether it held.
    func watch(until condition: (FaultRun) async throws -> Bool, timeout: Duration = .seconds(60)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition(self) { return true }
            try await pollOnce()
        }
        return try await condition(self)
    }

    /// The expected requests with no published copy yet.
    var missing: [String] { expected.keys.filter { messages[$0] == nil }.sorted() }

    /// How many of `ids` have a published copy.
    func delivered(_ ids: [String]) -> Int { ids.filter { messages[$0] != nil }.count }

    /// Watches until every produced request has a published copy (then drains `drain` longer
    /// so late duplicates are compared too). Records an issue with the worker logs on timeout.
    @discardableResult
    func waitForAll(timeout: Duration = .seconds(120), drain: Duration = .seconds(1)) async throws -> Bool {
        let done = try await watch(until: { $0.missing.isEmpty }, timeout: timeout)
        if !done {
            // Which partitions the watcher holds tells a stalled observer from a lost publish.
            let assigned = ((try? await watcher.assignment()) ?? []).map { "\($0.topic):\($0.partition)" }.sorted()
            Issue.record("timed out waiting for \(missing.count) of \(expected.count) requests: \(missing.prefix(8)); watcher assigned \(assigned); logs in \(logs.path)\n\(logTails)")
            return false
        }
        try await watch(for: drain)
        return true
    }

    var logTails: String {
        workers.map { "--- \($0.id) ---\n\($0.logTail)" }.joined(separator: "\n")
    }

    // MARK: Checking

    /// Checks the invariant over everything produced and returns the numbers.
    @discardableResult
    func verify(sourceLocation: SourceLocation = #_sourceLocation) async throws -> Report {
        let audit = try await AuditRepository.connect(url: databaseURL)
        defer { Task { await audit.connection.close() } }
        var report = Report()
        report.requests = expected.count
        report.auditRows = try await audit.count()
        var unexpected: [String] = []
        if report.auditRows != expected.count {
            // Name the rows no produced message accounts for, with their decision and reasons.
            for entry in try await audit.recentDecisions(limit: 10_000) where expected[entry.requestID] == nil {
                unexpected.append("\(entry.requestID) \(entry.decision.rawValue) \(entry.topic):\(entry.partition):\(entry.offset) \(entry.reasonsJSON.prefix(160))")
            }
        }
        #expect(report.auditRows == expected.count, "exactly one audit row per request, and no others; unexpected rows: \(unexpected.prefix(10))",
                sourceLocation: sourceLocation)
        var problems: [String] = []
        var latencies: [Double] = []
        for (id, source) in expected.sorted(by: { $0.key < $1.key }) {
            let published = messages[id] ?? []
            report.messages += published.count
            report.duplicates += max(0, published.count - 1)
            guard let row = try await audit.decision(requestID: id) else {
                report.lost += 1
                problems.append("\(id): no audit row")
                continue
            }
            if published.isEmpty {
                report.lost += 1
                problems.append("\(id): no result or DLQ message")
                continue
            }
            if published.contains(where: { $0 != row.publishedPayload }) {
                report.mismatched += 1
                problems.append("\(id): a published copy differs from the audit row's payload")
            }
            if row.source.topic != source.topic || row.source.partition != source.partition || row.source.offset != source.offset {
                problems.append("\(id): audit row source \(row.source) != produced \(source)")
            }
            let wantedTopic = row.decision == .rejected ? topics.deadLetters : topics.results
            if row.publishedTopic != wantedTopic { problems.append("\(id): published to \(row.publishedTopic), not \(wantedTopic)") }
            if let produced = producedAt[id], let seen = firstSeenAt[id] { latencies.append((seen - produced).milliseconds) }
        }
        latencies.sort()
        if !latencies.isEmpty {
            report.p50Milliseconds = latencies[latencies.count / 2]
            report.p99Milliseconds = latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
        }
        #expect(problems.isEmpty, "\(problems.count) invariant violations: \(problems.prefix(10)); logs in \(logs.path)", sourceLocation: sourceLocation)
        #expect(report.lost == 0 && report.mismatched == 0, "\(report)", sourceLocation: sourceLocation)
        return report
    }

    /// The worker group's committed offsets per requests partition, read by a consumer of the
    /// same group: call it only while no worker runs (it joins the group).
    func committedOffsets() async throws -> [Int32: Int64] {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: cluster.bootstrapServers, groupID: groupID, topics: [topics.requests])
        configuration.sessionTimeout = .seconds(6)
        let consumer = try KafkaConsumer(configuration: configuration)
        let partitions = (0..<Int32(options.partitions)).map { KafkaTopicPartition(topic: topics.requests, partition: $0) }
        let offsets = try await consumer.committed(partitions)
        try await consumer.close()
        var result: [Int32: Int64] = [:]
        for entry in offsets { result[entry.partition] = entry.offset ?? 0 }
        return result
    }

    /// Asserts that no committed offset passes a request without an audit row: every request
    /// below its partition's committed offset has its row.
    func checkNoCommitPastMissingAuditRow(_ committed: [Int32: Int64], sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int {
        let audit = try await AuditRepository.connect(url: databaseURL)
        defer { Task { await audit.connection.close() } }
        var covered = 0
        for (id, source) in expected where source.offset < (committed[source.partition] ?? 0) {
            covered += 1
            let row = try await audit.decision(requestID: id)
            #expect(row != nil, "offset \(committed[source.partition] ?? 0) committed on partition \(source.partition) past \(id) (offset \(source.offset)) without an audit row", sourceLocation: sourceLocation)
        }
        return covered
    }

    // MARK: Status endpoints

    /// GET `path` on worker `index`'s status port: the status code and body (nil when it does not answer).
    func status(_ index: Int, _ path: String) async -> (code: Int, body: String)? {
        guard options.statusPorts, let url = URL(string: "http://127.0.0.1:\(ports[index])\(path)") else { return nil }
        var request = URLRequest(url: url)
        request.timeoutInterval = 2
        guard let (data, response) = try? await URLSession.shared.data(for: request), let http = response as? HTTPURLResponse else { return nil }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    /// Polls `/ready` of worker `index` until it answers `code` (while watching), or `timeout`.
    func waitForReady(_ index: Int, code: Int, timeout: Duration = .seconds(30)) async throws -> (code: Int, body: String)? {
        let deadline = ContinuousClock.now + timeout
        var last: (code: Int, body: String)?
        while ContinuousClock.now < deadline {
            last = await status(index, "/ready")
            if last?.code == code { return last }
            try await watch(for: .milliseconds(200))
        }
        return last
    }

    /// Polls `/ready` of every worker until one answers `code` (while watching), or `timeout`.
    func waitForAnyReady(code: Int, timeout: Duration = .seconds(30)) async throws -> (code: Int, body: String)? {
        let deadline = ContinuousClock.now + timeout
        var last: (code: Int, body: String)?
        while ContinuousClock.now < deadline {
            for index in workers.indices {
                last = await status(index, "/ready")
                if last?.code == code { return last }
            }
            try await watch(for: .milliseconds(200))
        }
        return last
    }

    // MARK: End

    /// Stops the workers (SIGTERM, then SIGKILL), closes the clients, drops a fresh database.
    func finish() async {
        for worker in workers { _ = await worker.terminate(timeout: .seconds(15)) }
        // Closing a consumer blocks until it left its group; never let that hang a test.
        let (watcher, producer) = (self.watcher, self.producer)
        await Self.bounded(.seconds(10)) { try? await watcher.close() }
        await Self.bounded(.seconds(10)) { try? await producer.close(timeout: .seconds(5)) }
        await freshDatabase?.drop()
        withExtendedLifetime(cluster) {}
    }

    /// Runs `body` in a task and waits for it at most `limit` (the task is left running after).
    static func bounded(_ limit: Duration, _ body: @escaping @Sendable () async -> Void) async {
        final class Flag: Sendable { let done = Atomic(false) }
        let flag = Flag()
        Task {
            await body()
            flag.done.store(true, ordering: .releasing)
        }
        let deadline = ContinuousClock.now + limit
        while !flag.done.load(ordering: .acquiring), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}

/// A loopback TCP port that was free a moment ago.
func freeLoopbackPort() throws -> Int { try LoopbackSocket.freePort() }

/// The fault suites, run one at a time: each starts several worker processes on a mock cluster.
@Suite(.serialized) enum FaultTests {}

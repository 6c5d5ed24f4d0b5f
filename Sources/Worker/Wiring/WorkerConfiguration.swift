import AuditStore
import Configuration
import Contracts
import Moderation
import Foundation
import Kafka
import SystemPackage

/// Everything `chaperone worker` needs, read with swift-configuration from, in order of
/// precedence: command-line flags, environment variables `CHAPERONE_*` (key `database.url`
/// is `CHAPERONE_DATABASE_URL`), a JSON config file, then the defaults below.
public struct WorkerConfiguration: Sendable {
    /// Worker id recorded in results and audit rows. Key `worker.id`. Default: `<host>-<pid>`.
    public var workerID: String
    /// Key `kafka.bootstrap_servers`. Default: `127.0.0.1:9092`.
    public var bootstrapServers: String
    /// Key `kafka.group_id`. Default: `chaperone-workers`.
    public var groupID: String
    /// Key `kafka.transactional_id`: when set, publish and offset commit use one Kafka
    /// transaction; must be unique per worker. Default: none (idempotent producer, commit after ack).
    public var transactionalID: String?
    /// Key `kafka.session_timeout_ms`. Default: 10000.
    public var sessionTimeout: Duration
    /// Key `kafka.max_poll_interval_ms`. Default: 300000 (the worker polls while busy).
    public var maxPollInterval: Duration
    /// Key `kafka.assignment_strategy`: how the group splits the requests partitions,
    /// `cooperative-sticky`, `range` or `roundrobin`. Default: `cooperative-sticky` when the
    /// linked librdkafka is 2.3.0 or newer, else `roundrobin` (older librdkafka aborts the
    /// process on an assertion of its sticky assignor when a member is torn down before its
    /// first assignment; Debian 12 ships 2.0.2). With `cooperative-sticky` a
    /// rebalance (a worker joining or leaving) revokes only the partitions that move, so
    /// requests in progress on the other partitions go on; the eager `range` and `roundrobin`
    /// revoke every partition of every worker, handing back every request in progress. All
    /// workers of a group must agree: the group refuses a member whose protocol (eager or
    /// cooperative) no other member offers, so change it with all workers stopped (workers
    /// before this key existed used `roundrobin`).
    public var assignmentStrategy: KafkaConsumerConfiguration.AssignmentStrategy
    /// Key `kafka.group_instance_id`: static group membership. A worker that restarts with the
    /// same id within `kafka.session_timeout_ms` gets its partitions back without a rebalance,
    /// and one that stops leaves the group only when that timeout expires (its partitions wait
    /// that long). Must be unique among live workers: a second worker with the same id fences
    /// the first. Default: the worker id (`worker.id`); an empty string turns static
    /// membership off.
    public var groupInstanceID: String?
    /// Key `kafka.message_max_bytes`: the largest message the worker's producer sends (results
    /// and dead letters), librdkafka's `message.max.bytes`, 20000 to 1000000000 (a DLQ envelope
    /// needs room). A result whose inline image would not fit carries it in the image store
    /// (`images.store`); DLQ envelopes cut the original to fit. Keep it at or below the result
    /// topics' `max.message.bytes` on the brokers. Default: 1000000.
    public var messageMaxBytes: Int
    /// Keys `topics.requests`, `topics.results`, `topics.dlq`.
    public var topics: WorkerTopics
    /// Key `database.url` (libpq URL). Required.
    public var databaseURL: String?
    /// Key `database.migrate`: apply pending migrations at start. Default: true. When false, the
    /// worker refuses to start while the database lacks a migration of `database.migrations`,
    /// naming it, rather than fail on its first request.
    public var migrate: Bool
    /// Key `database.migrations`: folder of `NNN_name.sql`. Default: `schemas/migrations`.
    public var migrationsDirectory: String
    /// Key `database.probe_interval_ms`: while no request is in hand, the worker checks the
    /// audit database this often (one cheap query) and reports not ready on `/ready` while the
    /// check fails or gets no answer within the interval. 0 turns the check off. Default: 5000.
    public var databaseProbeInterval: Duration
    /// How long the worker waits for the audit database, so a database that goes silent (a
    /// stopped server, a frozen host, a network that drops packets) turns the worker unready
    /// and its calls into retriable failures instead of hanging it:
    /// - `database.connect_timeout_ms`: longest time to open a connection. Default: 5000.
    /// - `database.statement_timeout_ms`: the sessions' `statement_timeout` (the server cancels a
    ///   slower statement); the worker itself waits at most this plus one second for any answer,
    ///   then gives the connection up and opens a new one on the next call. 0 turns both off.
    ///   Default: 10000.
    /// - `database.tcp_user_timeout_ms`: libpq `tcp_user_timeout` (a connection whose sent data
    ///   stays unacknowledged this long is dropped by the kernel); 0 leaves the kernel's. Default: 10000.
    /// - `database.keepalives_idle_seconds`, `database.keepalives_interval_seconds`,
    ///   `database.keepalives_count`: TCP keepalive probes of an idle connection (first after
    ///   idle seconds, then every interval, dropped after count unanswered); idle 0 turns them
    ///   off. Defaults: 10, 5, 3.
    ///
    /// What `database.url` sets itself wins: its `connect_timeout`, `tcp_user_timeout` and
    /// `keepalives*`, and a `statement_timeout` in its `options` (the worker's wait follows it).
    public var databaseConnection: ConnectionSettings
    /// Keys `retry.initial_backoff_ms` and `retry.max_backoff_ms`: while the audit database or
    /// the broker fails a step of a request, the worker retries it after a delay that doubles
    /// from the initial one up to the maximum. The maximum bounds how long a worker may sleep
    /// after a dependency is back. Defaults: 100 and 2000.
    public var retryBackoff: Backoff
    /// Keys `http.host` and `http.port` of /metrics, /health and /ready; port 0 disables it.
    /// Default: 127.0.0.1:9464.
    public var httpHost: String
    public var httpPort: Int
    /// Keys `limits.*`: `max_message_bytes`, `max_steps`, `max_pixels`, `max_prompt_length`,
    /// `max_guidance_scale`, `allowed_schedulers` (comma-separated in the environment).
    public var limits: RequestLimits
    /// Keys `policy.force_safegen`, `policy.minimum_safety_preset`.
    public var mitigationPolicy: MitigationPolicy
    /// Key `model.path`: a diffusers-layout model folder. Required by the shipped worker.
    public var modelPath: String?
    /// Key `model.overlay`: a SafeGen overlay file or UNet folder. Default: none.
    public var overlayPath: String?
    /// Key `model.nudenet`: NudeNet v3 `320n.onnx`. Default: none (no nudity detector).
    public var nudeNetModelPath: String?
    /// Key `model.root`: when set, `model.path`, `model.overlay` and `model.nudenet` must lie
    /// inside this folder once `..` and symbolic links are resolved; any other path is refused
    /// at start-up. Default: none (no restriction).
    public var modelRoot: String?
    /// Key `model.policy`: moderation policy JSON. Default: the embedded policy.
    public var policyPath: String?
    /// Key `model.prompt_lexicon`: prompt-harm lexicon JSON. Default: the embedded lexicon.
    public var promptLexiconPath: String?
    /// Key `model.fairness_families`: Fair Diffusion attribute families JSON. Default: the model
    /// folder's `fairness-families.json` when it has one, else the embedded gender family.
    public var fairnessFamiliesPath: String?
    /// Key `model.prompt_embedding`: prompt harm also by text-embedding similarity with the
    /// model's CLIP text encoder: `off` (default), `standard` (embedded I2P category
    /// descriptions) or a descriptions JSON file.
    public var promptEmbedding: String?
    /// Kafka security settings passed to librdkafka for consumer and producer: keys
    /// `kafka.security_protocol`, `kafka.sasl_mechanism`, `kafka.sasl_username`,
    /// `kafka.sasl_password` (secret), `kafka.ssl_ca_location`, `kafka.ssl_certificate_location`,
    /// `kafka.ssl_key_location`, `kafka.ssl_key_password` (secret). Default: none (plaintext).
    /// PostgreSQL TLS and password files go in the libpq URL (`sslmode`, `sslrootcert`) or
    /// libpq's own environment (`PGPASSFILE`).
    public var kafkaSecurity: [String: String]
    /// Key `log.level` (trace … critical). Default: info.
    public var logLevel: String
    /// Key `log.format`: `text` or `json`. Default: text.
    public var logFormat: String
    /// Key `shutdown.max_seconds`: longest graceful shutdown before the current request is
    /// handed back. Default: 30.
    public var maxShutdown: Duration
    /// Key `limits.max_attempts`: deliveries of one message that may start processing; the
    /// delivery that reaches this count (the worker died on the message every time before)
    /// quarantines it as `poison` (audit row and DLQ envelope) instead. Default: 3.
    public var maxAttempts: Int
    /// Key `images.store`: where result images go instead of inline (claim check): unset keeps
    /// them inline and stores only an image whose result would not fit the producer's message
    /// size, in the audit database's `images` table; `postgresql` stores every image there; a
    /// directory path stores every image as `<sha256>.png` in it (a volume consumers mount).
    public var imageStore: String?
    /// Key `health.stall_timeout_ms`: `/health` answers 503 when the request loop, or the
    /// request in hand, made no progress (a poll, a sampling step, a stage, a retry) for this
    /// long. It must exceed the longest single step (a UNet evaluation, a VAE decode) on the
    /// slowest machine. Default: 600000 (10 minutes); 0 turns the check off.
    public var stallTimeout: Duration

    /// Reads the configuration. `flags` are the values given on the command line (highest
    /// precedence), `environment` the process environment, `configFile` an optional JSON file.
    public static func load(
        flags: [String: ConfigContent] = [:], environment: [String: String] = ProcessInfo.processInfo.environment,
        configFile: String? = nil
    ) async throws -> WorkerConfiguration {
        var providers: [any ConfigProvider] = []
        let flagValues = Dictionary(uniqueKeysWithValues: flags.map { (AbsoluteConfigKey(ConfigKey($0.key)), ConfigValue($0.value, isSecret: ["database.url", "kafka.sasl_password", "kafka.ssl_key_password"].contains($0.key))) })
        providers.append(InMemoryProvider(name: "flags", values: flagValues))
        providers.append(
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(Set(secretEnvironmentVariables)))
                .prefixKeys(with: "chaperone"))
        let file = configFile ?? environment["CHAPERONE_CONFIG"]
        if let file {
            guard FileManager.default.fileExists(atPath: file) else {
                throw WorkerError(.invalidConfiguration, "config file \(file) does not exist")
            }
            do {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file)))
            } catch {
                throw WorkerError(.invalidConfiguration, "config file \(file) is not valid JSON: \(error)")
            }
        }
        return try WorkerConfiguration(reader: ConfigReader(providers: providers))
    }

    /// Reads the configuration from `reader` and checks it.
    public init(reader config: ConfigReader) throws {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        workerID = config.string(forKey: "worker.id", default: "\(host)-\(ProcessInfo.processInfo.processIdentifier)")
        bootstrapServers = config.string(forKey: "kafka.bootstrap_servers", default: "127.0.0.1:9092")
        groupID = config.string(forKey: "kafka.group_id", default: "chaperone-workers")
        transactionalID = config.string(forKey: "kafka.transactional_id")
        sessionTimeout = .milliseconds(config.int(forKey: "kafka.session_timeout_ms", default: 10_000))
        maxPollInterval = .milliseconds(config.int(forKey: "kafka.max_poll_interval_ms", default: 300_000))
        let strategyName = config.string(forKey: "kafka.assignment_strategy", default: Self.defaultAssignmentStrategy.rawValue)
        guard let strategy = KafkaConsumerConfiguration.AssignmentStrategy(rawValue: strategyName) else {
            throw WorkerError(.invalidConfiguration, "kafka.assignment_strategy '\(strategyName)' is not one of cooperative-sticky, range, roundrobin")
        }
        assignmentStrategy = strategy
        let instanceID = config.string(forKey: "kafka.group_instance_id", default: workerID)
        groupInstanceID = instanceID.isEmpty ? nil : instanceID
        messageMaxBytes = config.int(forKey: "kafka.message_max_bytes", default: 1_000_000)
        topics = WorkerTopics(
            requests: config.string(forKey: "topics.requests", default: "chaperone.requests"),
            results: config.string(forKey: "topics.results", default: "chaperone.results"),
            deadLetters: config.string(forKey: "topics.dlq", default: "chaperone.requests.dlq"))
        databaseURL = config.string(forKey: "database.url", isSecret: true)
        migrate = config.bool(forKey: "database.migrate", default: true)
        migrationsDirectory = config.string(forKey: "database.migrations", default: "schemas/migrations")
        databaseProbeInterval = .milliseconds(config.int(forKey: "database.probe_interval_ms", default: 5_000))
        databaseConnection = try Self.connectionSettings(config)
        retryBackoff = Backoff(
            initial: .milliseconds(config.int(forKey: "retry.initial_backoff_ms", default: 100)),
            maximum: .milliseconds(config.int(forKey: "retry.max_backoff_ms", default: 2_000)))
        httpHost = config.string(forKey: "http.host", default: "127.0.0.1")
        httpPort = config.int(forKey: "http.port", default: 9464)
        let defaults = RequestLimits()
        limits = RequestLimits(
            maxMessageBytes: config.int(forKey: "limits.max_message_bytes", default: defaults.maxMessageBytes),
            maxSteps: config.int(forKey: "limits.max_steps", default: defaults.maxSteps),
            maxPixels: config.int(forKey: "limits.max_pixels", default: defaults.maxPixels),
            maxPromptLength: config.int(forKey: "limits.max_prompt_length", default: defaults.maxPromptLength),
            maxGuidanceScale: config.double(forKey: "limits.max_guidance_scale", default: defaults.maxGuidanceScale),
            allowedSchedulers: Set(config.stringArray(forKey: "limits.allowed_schedulers", default: defaults.allowedSchedulers.sorted())),
            maxSemanticEdits: config.int(forKey: "limits.max_semantic_edits", default: defaults.maxSemanticEdits))
        let presetName = config.string(forKey: "policy.minimum_safety_preset")
        var preset: SafetyPreset?
        if let presetName {
            guard let parsed = SafetyPreset(rawValue: presetName) else {
                throw WorkerError(.invalidConfiguration, "policy.minimum_safety_preset '\(presetName)' is not one of weak, medium, strong, max")
            }
            preset = parsed
        }
        mitigationPolicy = MitigationPolicy(forceSafeGen: config.bool(forKey: "policy.force_safegen", default: false), minimumSafetyPreset: preset)
        modelPath = config.string(forKey: "model.path")
        overlayPath = config.string(forKey: "model.overlay")
        nudeNetModelPath = config.string(forKey: "model.nudenet")
        modelRoot = config.string(forKey: "model.root")
        policyPath = config.string(forKey: "model.policy")
        promptLexiconPath = config.string(forKey: "model.prompt_lexicon")
        fairnessFamiliesPath = config.string(forKey: "model.fairness_families")
        promptEmbedding = config.string(forKey: "model.prompt_embedding")
        var security: [String: String] = [:]
        security["security.protocol"] = config.string(forKey: "kafka.security_protocol")
        security["sasl.mechanisms"] = config.string(forKey: "kafka.sasl_mechanism")
        security["sasl.username"] = config.string(forKey: "kafka.sasl_username")
        security["sasl.password"] = config.string(forKey: "kafka.sasl_password", isSecret: true)
        security["ssl.ca.location"] = config.string(forKey: "kafka.ssl_ca_location")
        security["ssl.certificate.location"] = config.string(forKey: "kafka.ssl_certificate_location")
        security["ssl.key.location"] = config.string(forKey: "kafka.ssl_key_location")
        security["ssl.key.password"] = config.string(forKey: "kafka.ssl_key_password", isSecret: true)
        kafkaSecurity = security
        logLevel = config.string(forKey: "log.level", default: "info")
        logFormat = config.string(forKey: "log.format", default: "text")
        maxShutdown = .seconds(config.int(forKey: "shutdown.max_seconds", default: 30))
        maxAttempts = config.int(forKey: "limits.max_attempts", default: 3)
        imageStore = config.string(forKey: "images.store")
        stallTimeout = .milliseconds(config.int(forKey: "health.stall_timeout_ms", default: 600_000))
        try validate()
    }

    /// Reads the `database.*` timeout and keepalive keys; 0 turns a limit off, negative values are refused.
    static func connectionSettings(_ config: ConfigReader) throws -> ConnectionSettings {
        func limit(_ given: Int, key: String) throws -> Duration? {
            guard given >= 0 else { throw WorkerError(.invalidConfiguration, "\(key) (\(given)) must be 0 (off) or more") }
            return given > 0 ? .milliseconds(given) : nil
        }
        let connectTimeout = try limit(config.int(forKey: "database.connect_timeout_ms", default: 5_000), key: "database.connect_timeout_ms")
        let statementTimeout = try limit(config.int(forKey: "database.statement_timeout_ms", default: 10_000), key: "database.statement_timeout_ms")
        let tcpUserTimeout = try limit(config.int(forKey: "database.tcp_user_timeout_ms", default: 10_000), key: "database.tcp_user_timeout_ms")
        let keepalives = ConnectionSettings.Keepalives(
            idleSeconds: config.int(forKey: "database.keepalives_idle_seconds", default: 10),
            intervalSeconds: config.int(forKey: "database.keepalives_interval_seconds", default: 5),
            count: config.int(forKey: "database.keepalives_count", default: 3))
        guard keepalives.idleSeconds >= 0, keepalives.intervalSeconds >= 1, keepalives.count >= 1 else {
            throw WorkerError(.invalidConfiguration,
                "database.keepalives_idle_seconds must be 0 (off) or more, database.keepalives_interval_seconds and database.keepalives_count at least 1")
        }
        return ConnectionSettings(
            connectTimeout: connectTimeout, statementTimeout: statementTimeout, tcpUserTimeout: tcpUserTimeout,
            keepalives: keepalives.idleSeconds > 0 ? keepalives : nil)
    }

    /// `cooperative-sticky` where the linked librdkafka runs it safely, else `roundrobin`.
    public static var defaultAssignmentStrategy: KafkaConsumerConfiguration.AssignmentStrategy {
        LibRdKafkaVersion.cooperativeStickyIsSafe ? .cooperativeSticky : .roundRobin
    }

    /// Environment variables whose values are secrets (never logged or shown).
    static let secretEnvironmentVariables = ["CHAPERONE_DATABASE_URL", "CHAPERONE_KAFKA_SASL_PASSWORD", "CHAPERONE_KAFKA_SSL_KEY_PASSWORD"]

    /// Checks values that would otherwise fail later and less clearly.
    public func validate() throws {
        guard ["text", "json"].contains(logFormat) else {
            throw WorkerError(.invalidConfiguration, "log.format '\(logFormat)' must be text or json")
        }
        guard databaseProbeInterval >= .zero else {
            throw WorkerError(.invalidConfiguration, "database.probe_interval_ms must be 0 (off) or more")
        }
        guard retryBackoff.initial > .zero, retryBackoff.maximum >= retryBackoff.initial else {
            throw WorkerError(.invalidConfiguration,
                "retry.initial_backoff_ms (\(retryBackoff.initial)) must be positive and retry.max_backoff_ms (\(retryBackoff.maximum)) at least as large")
        }
        guard (20_000...1_000_000_000).contains(messageMaxBytes) else {
            throw WorkerError(.invalidConfiguration, "kafka.message_max_bytes \(messageMaxBytes) must be 20000 to 1000000000")
        }
        guard (0...65535).contains(httpPort) else {
            throw WorkerError(.invalidConfiguration, "http.port \(httpPort) must be 0 to 65535")
        }
        guard limits.maxSteps >= 1, limits.maxPixels >= 64 * 64, limits.maxPromptLength >= 1, limits.maxMessageBytes >= 1 else {
            throw WorkerError(.invalidConfiguration, "limits must be positive (max_steps >= 1, max_pixels >= 4096, max_prompt_length >= 1)")
        }
        guard maxAttempts >= 1 else {
            throw WorkerError(.invalidConfiguration, "limits.max_attempts \(maxAttempts) must be 1 or more")
        }
        guard stallTimeout >= .zero else {
            throw WorkerError(.invalidConfiguration, "health.stall_timeout_ms must be 0 (off) or more")
        }
        if let imageStore, imageStore.isEmpty {
            throw WorkerError(.invalidConfiguration, "images.store is empty: leave it unset, or give `postgresql` or a directory")
        }
        guard !limits.allowedSchedulers.isEmpty else {
            throw WorkerError(.invalidConfiguration, "limits.allowed_schedulers is empty")
        }
        if let modelRoot {
            for (key, path) in [("model.path", modelPath), ("model.overlay", overlayPath), ("model.nudenet", nudeNetModelPath)] {
                guard let path else { continue }
                guard Self.isInside(path, root: modelRoot) else {
                    throw WorkerError(.invalidConfiguration, "\(key) '\(path)' is outside model.root '\(modelRoot)' (after resolving .. and symbolic links)")
                }
            }
        }
    }

    /// Whether `path` names `root` or something below it, comparing absolute paths with `.`,
    /// `..` and symbolic links resolved (relative paths are taken from the working directory).
    public static func isInside(_ path: String, root: String) -> Bool {
        func resolved(_ path: String) -> [String] {
            URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().standardizedFileURL.pathComponents
        }
        let rootComponents = resolved(root)
        let components = resolved(path)
        return components.count >= rootComponents.count && Array(components.prefix(rootComponents.count)) == rootComponents
    }
}

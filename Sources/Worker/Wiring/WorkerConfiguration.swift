import AuditStore
import Configuration
import Contracts
import Moderation
import Foundation
import Kafka
import Logging
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
    public var logLevel: Logger.Level
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
    /// Key `images.keep_withheld`: keep the image a decision withholds (blocked, or the
    /// original of a censored one) in `withheld_images` for reviewers. Default: true.
    public var keepWithheldImages = true
    /// Key `health.stall_timeout_ms`: `/health` answers 503 when the request loop, or the
    /// request in hand, made no progress (a poll, a sampling step, a stage, a retry) for this
    /// long. It must exceed the longest single step (a UNet evaluation, a VAE decode) on the
    /// slowest machine. Default: 600000 (10 minutes); 0 turns the check off.
    public var stallTimeout: Duration
    /// Keys `console.*`: the audit console (`chaperone audit serve`), read by the same loader so
    /// every subcommand takes its settings one way.
    public var console: ConsoleSettings

    /// Where and how the audit console listens.
    public struct ConsoleSettings: Sendable, Equatable {
        /// Key `console.host`. Default: `127.0.0.1`.
        public var host: String
        /// Key `console.port`. Default: 8470; 0 picks a free port.
        public var port: Int
        /// Keys `console.tls_certificate` and `console.tls_key`: HTTPS when both are set.
        public var tlsCertificate: String?
        public var tlsKey: String?
        /// Key `console.session_hours`: how long a login lasts. Default: 8.
        public var sessionHours: Int

        public init(host: String, port: Int, tlsCertificate: String?, tlsKey: String?, sessionHours: Int) {
            self.host = host
            self.port = port
            self.tlsCertificate = tlsCertificate
            self.tlsKey = tlsKey
            self.sessionHours = sessionHours
        }
    }

    /// Reads the configuration. `flags` are the values given on the command line (highest
    /// precedence), `environment` the process environment, `configFile` an optional JSON file.
    /// A value that cannot be read as its key's kind, and a key of the file that is not one of
    /// ``ConfigurationKey/all``, are refused with the key named.
    public static func load(
        flags: [String: ConfigContent] = [:], environment: [String: String] = ProcessInfo.processInfo.environment,
        configFile: String? = nil
    ) async throws -> WorkerConfiguration {
        var providers: [any ConfigProvider] = []
        for name in flags.keys where ConfigurationKey.named(name) == nil {
            throw WorkerError(.invalidConfiguration, "flag for unknown configuration key '\(name)'")
        }
        let flagValues = Dictionary(uniqueKeysWithValues: flags.map {
            (AbsoluteConfigKey(ConfigKey($0.key)), ConfigValue($0.value, isSecret: ConfigurationKey.named($0.key)?.isSecret ?? false))
        })
        providers.append(InMemoryProvider(name: "flags", values: flagValues))
        providers.append(
            EnvironmentVariablesProvider(
                environmentVariables: environment, secretsSpecifier: .specific(ConfigurationKey.secretEnvironmentVariables)
            ).prefixKeys(with: "chaperone"))
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
            if let unknown = try Self.unknownKeys(inJSONFile: file).first {
                throw WorkerError(.invalidConfiguration, "config file \(file) sets '\(unknown)', which is not a configuration key (see `chaperone config keys`)")
            }
        }
        let problems = ConfigurationProblems()
        let configuration = try WorkerConfiguration(reader: ConfigReader(providers: providers, accessReporter: problems))
        if let invalid = problems.invalidKeys.first {
            let key = ConfigurationKey.named(invalid)
            throw WorkerError(.invalidConfiguration, "\(invalid) has a value that is not \(key.map { Self.article($0.kind) } ?? "valid")")
        }
        return configuration
    }

    private static func article(_ kind: ConfigurationKey.Kind) -> String {
        switch kind {
        case .string: "a string"
        case .integer: "an integer"
        case .boolean: "true or false"
        case .number: "a number"
        case .list: "a list of strings"
        }
    }

    /// The dotted names of the leaves of a JSON config file that are not configuration keys.
    static func unknownKeys(inJSONFile file: String) throws -> [String] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file)))
        var names: [String] = []
        func walk(_ value: Any, _ path: [String]) {
            if let dictionary = value as? [String: Any], ConfigurationKey.named(path.joined(separator: ".")) == nil {
                for (key, child) in dictionary.sorted(by: { $0.key < $1.key }) { walk(child, path + [key]) }
            } else {
                names.append(path.joined(separator: "."))
            }
        }
        walk(object, [])
        return names.filter { ConfigurationKey.named($0) == nil }
    }

    /// Reads the configuration from `reader` and checks it.
    public init(reader config: ConfigReader) throws {
        typealias Key = ConfigurationKey
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        workerID = config.string(Key.workerID) ?? "\(host)-\(ProcessInfo.processInfo.processIdentifier)"
        bootstrapServers = config.string(Key.kafkaBootstrapServers) ?? ""
        groupID = config.string(Key.kafkaGroupID) ?? ""
        transactionalID = config.string(Key.kafkaTransactionalID)
        sessionTimeout = .milliseconds(config.int(Key.kafkaSessionTimeout))
        maxPollInterval = .milliseconds(config.int(Key.kafkaMaxPollInterval))
        let strategyName = config.string(Key.kafkaAssignmentStrategy) ?? Self.defaultAssignmentStrategy.rawValue
        guard let strategy = KafkaConsumerConfiguration.AssignmentStrategy(rawValue: strategyName) else {
            throw WorkerError(.invalidConfiguration, "kafka.assignment_strategy '\(strategyName)' is not one of cooperative-sticky, range, roundrobin")
        }
        assignmentStrategy = strategy
        let instanceID = config.string(Key.kafkaGroupInstanceID) ?? workerID
        groupInstanceID = instanceID.isEmpty ? nil : instanceID
        messageMaxBytes = config.int(Key.kafkaMessageMaxBytes)
        topics = WorkerTopics(
            requests: config.string(Key.topicsRequests) ?? "", results: config.string(Key.topicsResults) ?? "",
            deadLetters: config.string(Key.topicsDLQ) ?? "")
        databaseURL = config.string(Key.databaseURL)
        migrate = config.bool(Key.databaseMigrate)
        migrationsDirectory = config.string(Key.databaseMigrations) ?? ""
        databaseProbeInterval = .milliseconds(config.int(Key.databaseProbeInterval))
        databaseConnection = try Self.connectionSettings(config)
        retryBackoff = Backoff(initial: .milliseconds(config.int(Key.retryInitialBackoff)), maximum: .milliseconds(config.int(Key.retryMaxBackoff)))
        httpHost = config.string(Key.httpHost) ?? ""
        httpPort = config.int(Key.httpPort)
        limits = RequestLimits(
            maxMessageBytes: config.int(Key.limitsMaxMessageBytes),
            maxSteps: config.int(Key.limitsMaxSteps),
            maxPixels: config.int(Key.limitsMaxPixels),
            maxPromptLength: config.int(Key.limitsMaxPromptLength),
            maxGuidanceScale: config.double(Key.limitsMaxGuidanceScale),
            allowedSchedulers: Set(config.stringArray(Key.limitsAllowedSchedulers)),
            maxSemanticEdits: config.int(Key.limitsMaxSemanticEdits))
        var preset: SafetyPreset?
        if let presetName = config.string(Key.policyMinimumSafetyPreset) {
            guard let parsed = SafetyPreset(rawValue: presetName) else {
                throw WorkerError(.invalidConfiguration, "policy.minimum_safety_preset '\(presetName)' is not one of weak, medium, strong, max")
            }
            preset = parsed
        }
        mitigationPolicy = MitigationPolicy(forceSafeGen: config.bool(Key.policyForceSafeGen), minimumSafetyPreset: preset)
        modelPath = config.string(Key.modelPath)
        overlayPath = config.string(Key.modelOverlay)
        nudeNetModelPath = config.string(Key.modelNudeNet)
        modelRoot = config.string(Key.modelRoot)
        policyPath = config.string(Key.modelPolicy)
        promptLexiconPath = config.string(Key.modelPromptLexicon)
        fairnessFamiliesPath = config.string(Key.modelFairnessFamilies)
        promptEmbedding = config.string(Key.modelPromptEmbedding)
        var security: [String: String] = [:]
        security["security.protocol"] = config.string(Key.kafkaSecurityProtocol)
        security["sasl.mechanisms"] = config.string(Key.kafkaSASLMechanism)
        security["sasl.username"] = config.string(Key.kafkaSASLUsername)
        security["sasl.password"] = config.string(Key.kafkaSASLPassword)
        security["ssl.ca.location"] = config.string(Key.kafkaSSLCALocation)
        security["ssl.certificate.location"] = config.string(Key.kafkaSSLCertificateLocation)
        security["ssl.key.location"] = config.string(Key.kafkaSSLKeyLocation)
        security["ssl.key.password"] = config.string(Key.kafkaSSLKeyPassword)
        kafkaSecurity = security
        let levelName = config.string(Key.logLevel) ?? ""
        guard let level = Logger.Level(rawValue: levelName) else {
            throw WorkerError(.invalidConfiguration,
                "log.level '\(levelName)' must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        logLevel = level
        logFormat = config.string(Key.logFormat) ?? ""
        maxShutdown = .seconds(config.int(Key.shutdownMaxSeconds))
        maxAttempts = config.int(Key.limitsMaxAttempts)
        imageStore = config.string(Key.imagesStore)
        keepWithheldImages = config.bool(Key.imagesKeepWithheld)
        stallTimeout = .milliseconds(config.int(Key.healthStallTimeout))
        console = ConsoleSettings(
            host: config.string(Key.consoleHost) ?? "", port: config.int(Key.consolePort),
            tlsCertificate: config.string(Key.consoleTLSCertificate), tlsKey: config.string(Key.consoleTLSKey),
            sessionHours: config.int(Key.consoleSessionHours))
        try validate()
    }

    /// Reads the `database.*` timeout and keepalive keys; 0 turns a limit off, negative values are refused.
    static func connectionSettings(_ config: ConfigReader) throws -> ConnectionSettings {
        typealias Key = ConfigurationKey
        func limit(_ key: ConfigurationKey) throws -> Duration? {
            let given = config.int(key)
            guard given >= 0 else { throw WorkerError(.invalidConfiguration, "\(key.name) (\(given)) must be 0 (off) or more") }
            return given > 0 ? .milliseconds(given) : nil
        }
        let connectTimeout = try limit(Key.databaseConnectTimeout)
        let statementTimeout = try limit(Key.databaseStatementTimeout)
        let tcpUserTimeout = try limit(Key.databaseTCPUserTimeout)
        let keepalives = ConnectionSettings.Keepalives(
            idleSeconds: config.int(Key.databaseKeepalivesIdle),
            intervalSeconds: config.int(Key.databaseKeepalivesInterval),
            count: config.int(Key.databaseKeepalivesCount))
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
        guard (0...65535).contains(console.port) else {
            throw WorkerError(.invalidConfiguration, "console.port \(console.port) must be 0 to 65535")
        }
        guard (1...168).contains(console.sessionHours) else {
            throw WorkerError(.invalidConfiguration, "console.session_hours \(console.sessionHours) must be 1 to 168")
        }
        guard (console.tlsCertificate == nil) == (console.tlsKey == nil) else {
            throw WorkerError(.invalidConfiguration, "console.tls_certificate and console.tls_key go together: set both for HTTPS, or neither")
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

import Configuration
import Contracts
import Synchronization

/// One configuration key of the worker: its name, the kind of value, its default and what it
/// does. ``ConfigurationKey/all`` is the one list of keys: ``WorkerConfiguration`` reads its
/// values through it, `chaperone config keys` prints it, and the README's configuration table is
/// generated from it (a test keeps the README in step), so docs and code cannot drift.
///
/// A key `kafka.group_id` is given as the flag the subcommand offers, as the environment
/// variable `CHAPERONE_KAFKA_GROUP_ID`, or as `{"kafka": {"group_id": …}}` in the JSON file
/// named by `--config` or `CHAPERONE_CONFIG`; that is also the order of precedence.
public struct ConfigurationKey: Sendable, Hashable {
    /// The kind of value a key takes.
    public enum Kind: String, Sendable {
        case string, integer, boolean, number
        /// Comma-separated in the environment, an array in the JSON file.
        case list
    }

    /// A key's default: a value, or a description of one worked out at start-up.
    public enum Default: Sendable, Hashable {
        case none
        case string(String)
        case integer(Int)
        case boolean(Bool)
        case number(Double)
        case list([String])
        /// Worked out at start-up (e.g. from the host name); the text says how.
        case derived(String)

        /// The default as the table shows it.
        public var text: String {
            switch self {
            case .none: "none"
            case .string(let value): value
            case .integer(let value): String(value)
            case .boolean(let value): String(value)
            case .number(let value): value == value.rounded() ? String(Int(value)) : String(value)
            case .list(let values): values.joined(separator: ",")
            case .derived(let how): how
            }
        }
    }

    /// Dotted name, e.g. `kafka.group_id`.
    public let name: String
    public let kind: Kind
    public let defaultValue: Default
    /// Never logged or shown (passwords, URLs with credentials).
    public let isSecret: Bool
    /// What the key does, in one or two sentences.
    public let summary: String

    public init(_ name: String, _ kind: Kind, default defaultValue: Default, secret: Bool = false, _ summary: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.isSecret = secret
        self.summary = summary
    }

    /// The environment variable of the key: `CHAPERONE_` and the name in capitals, dots as underscores.
    public var environmentVariable: String {
        "CHAPERONE_" + name.uppercased().replacingOccurrences(of: ".", with: "_")
    }
}

extension ConfigurationKey {
    static let workerID = Self("worker.id", .string, default: .derived("host name and process id"), "Worker id recorded in results and audit rows.")

    static let kafkaBootstrapServers = Self("kafka.bootstrap_servers", .string, default: .string("127.0.0.1:9092"), "Kafka brokers, comma-separated host:port.")
    static let kafkaGroupID = Self("kafka.group_id", .string, default: .string("chaperone-workers"), "Consumer group; workers of one group share the requests partitions.")
    static let kafkaTransactionalID = Self("kafka.transactional_id", .string, default: .none,
        "When set, publish and offset commit go in one Kafka transaction; unique per worker. Unset: idempotent producer, commit after the publish is acknowledged.")
    static let kafkaSessionTimeout = Self("kafka.session_timeout_ms", .integer, default: .integer(10_000), "Consumer group session timeout.")
    static let kafkaMaxPollInterval = Self("kafka.max_poll_interval_ms", .integer, default: .integer(300_000), "Longest time between polls (the worker polls while it generates).")
    static let kafkaAssignmentStrategy = Self("kafka.assignment_strategy", .string,
        default: .derived("cooperative-sticky with librdkafka 2.3.0 or newer, else roundrobin"),
        "cooperative-sticky (a rebalance moves only the partitions that change owner), range or roundrobin (revoke everything). All workers of a group must agree; older librdkafka's sticky assignor can abort the process.")
    static let kafkaGroupInstanceID = Self("kafka.group_instance_id", .string, default: .derived("the worker id"),
        "Static group membership: a worker back within the session timeout keeps its partitions without a rebalance. Unique among live workers; empty turns it off.")
    static let kafkaMessageMaxBytes = Self("kafka.message_max_bytes", .integer, default: .integer(1_000_000),
        "Largest result or DLQ message the producer sends, 20000 to 1000000000; results whose inline image would not fit carry it in the image store.")
    static let kafkaSecurityProtocol = Self("kafka.security_protocol", .string, default: .none, "librdkafka security.protocol: plaintext, ssl, sasl_plaintext or sasl_ssl.")
    static let kafkaSASLMechanism = Self("kafka.sasl_mechanism", .string, default: .none, "librdkafka sasl.mechanisms, e.g. SCRAM-SHA-512.")
    static let kafkaSASLUsername = Self("kafka.sasl_username", .string, default: .none, "SASL user name.")
    static let kafkaSASLPassword = Self("kafka.sasl_password", .string, default: .none, secret: true, "SASL password.")
    static let kafkaSSLCALocation = Self("kafka.ssl_ca_location", .string, default: .none, "CA certificate file for the brokers' TLS.")
    static let kafkaSSLCertificateLocation = Self("kafka.ssl_certificate_location", .string, default: .none, "Client certificate file (mutual TLS).")
    static let kafkaSSLKeyLocation = Self("kafka.ssl_key_location", .string, default: .none, "Client key file (mutual TLS).")
    static let kafkaSSLKeyPassword = Self("kafka.ssl_key_password", .string, default: .none, secret: true, "Password of the client key.")

    static let topicsRequests = Self("topics.requests", .string, default: .string("chaperone.requests"), "Topic the worker consumes requests from.")
    static let topicsResults = Self("topics.results", .string, default: .string("chaperone.results"), "Topic results are published to.")
    static let topicsDLQ = Self("topics.dlq", .string, default: .string("chaperone.requests.dlq"), "Topic rejected messages' envelopes are published to.")

    static let databaseURL = Self("database.url", .string, default: .none, secret: true,
        "libpq URL of the audit database (required by the worker). TLS and password files go in the URL (sslmode, sslrootcert) or libpq's environment.")
    static let databaseMigrate = Self("database.migrate", .boolean, default: .boolean(true),
        "Apply pending migrations at start; when false the worker refuses to start while a shipped migration is missing, naming it.")
    static let databaseMigrations = Self("database.migrations", .string, default: .string("schemas/migrations"), "Folder of NNN_name.sql migrations.")
    static let databaseProbeInterval = Self("database.probe_interval_ms", .integer, default: .integer(5_000),
        "How often a worker with no request checks the audit database for /ready; 0 turns the check off.")
    static let databaseConnectTimeout = Self("database.connect_timeout_ms", .integer, default: .integer(5_000), "Longest time to open a database connection; 0 turns it off.")
    static let databaseStatementTimeout = Self("database.statement_timeout_ms", .integer, default: .integer(10_000),
        "The sessions' statement_timeout; the worker gives a call up one second after it, so a silent database turns it unready instead of hanging it. 0 turns both off.")
    static let databaseTCPUserTimeout = Self("database.tcp_user_timeout_ms", .integer, default: .integer(10_000),
        "libpq tcp_user_timeout: a connection whose sent data stays unacknowledged this long is dropped; 0 leaves the kernel's.")
    static let databaseKeepalivesIdle = Self("database.keepalives_idle_seconds", .integer, default: .integer(10), "TCP keepalive: first probe after this idle time; 0 turns keepalives off.")
    static let databaseKeepalivesInterval = Self("database.keepalives_interval_seconds", .integer, default: .integer(5), "TCP keepalive: seconds between probes.")
    static let databaseKeepalivesCount = Self("database.keepalives_count", .integer, default: .integer(3), "TCP keepalive: unanswered probes before the connection is dropped.")

    static let retryInitialBackoff = Self("retry.initial_backoff_ms", .integer, default: .integer(100),
        "First delay before retrying a step that failed for a reason that can pass (database or broker unreachable); it doubles on each retry.")
    static let retryMaxBackoff = Self("retry.max_backoff_ms", .integer, default: .integer(2_000), "Longest delay between retries.")

    static let httpHost = Self("http.host", .string, default: .string("127.0.0.1"), "Address of /metrics, /health and /ready.")
    static let httpPort = Self("http.port", .integer, default: .integer(9464), "Port of /metrics, /health and /ready; 0 disables them.")

    static let limitsMaxMessageBytes = Self("limits.max_message_bytes", .integer, default: .integer(RequestLimits().maxMessageBytes), "Largest request message accepted.")
    static let limitsMaxSteps = Self("limits.max_steps", .integer, default: .integer(RequestLimits().maxSteps), "Most sampling steps a request may ask for.")
    static let limitsMaxPixels = Self("limits.max_pixels", .integer, default: .integer(RequestLimits().maxPixels), "Largest width × height a request may ask for (at least 4096).")
    static let limitsMaxPromptLength = Self("limits.max_prompt_length", .integer, default: .integer(RequestLimits().maxPromptLength), "Longest prompt, in characters.")
    static let limitsMaxGuidanceScale = Self("limits.max_guidance_scale", .number, default: .number(RequestLimits().maxGuidanceScale), "Largest classifier-free guidance scale.")
    static let limitsAllowedSchedulers = Self("limits.allowed_schedulers", .list, default: .list(RequestLimits().allowedSchedulers.sorted()), "Schedulers a request may name.")
    static let limitsMaxSemanticEdits = Self("limits.max_semantic_edits", .integer, default: .integer(RequestLimits().maxSemanticEdits), "Most SEGA edits in one request.")
    static let limitsMaxAttempts = Self("limits.max_attempts", .integer, default: .integer(3),
        "Generation starts of one message before it is quarantined as poison (the worker died on it every time).")

    static let policyForceSafeGen = Self("policy.force_safegen", .boolean, default: .boolean(false), "Apply the SafeGen overlay to every request.")
    static let policyMinimumSafetyPreset = Self("policy.minimum_safety_preset", .string, default: .none,
        "Safe Latent Diffusion preset every request gets at least: weak, medium, strong or max.")

    static let modelPath = Self("model.path", .string, default: .none, "Model folder in the diffusers layout (required by the worker).")
    static let modelOverlay = Self("model.overlay", .string, default: .none, "SafeGen overlay file (attn1 tensors) or edited UNet folder.")
    static let modelNudeNet = Self("model.nudenet", .string, default: .none, "NudeNet v3 320n.onnx; unset: no nudity detector.")
    static let modelRoot = Self("model.root", .string, default: .none,
        "When set, model, overlay and NudeNet paths outside this folder (after .. and symbolic links) are refused.")
    static let modelPolicy = Self("model.policy", .string, default: .derived("the embedded policy"), "Moderation policy JSON (docs/moderation-strategy.md).")
    static let modelPromptLexicon = Self("model.prompt_lexicon", .string, default: .derived("the embedded lexicon"), "Prompt-harm lexicon JSON.")
    static let modelFairnessFamilies = Self("model.fairness_families", .string,
        default: .derived("the model folder's fairness-families.json, else the embedded gender family"), "Fair Diffusion attribute families JSON.")
    static let modelPromptEmbedding = Self("model.prompt_embedding", .string, default: .derived("off"),
        "Prompt harm also by CLIP text-embedding similarity to category descriptions: off, standard (embedded I2P category descriptions), or a descriptions JSON file.")

    static let logLevel = Self("log.level", .string, default: .string("info"), "trace, debug, info, notice, warning, error or critical.")
    static let logFormat = Self("log.format", .string, default: .string("text"), "text or json.")
    static let shutdownMaxSeconds = Self("shutdown.max_seconds", .integer, default: .integer(30),
        "Longest graceful shutdown before the request in hand is handed back.")
    static let imagesStore = Self("images.store", .string, default: .none,
        "Where result images go instead of inline (image_ref): unset stores only images too large for a message, in the audit database; postgresql stores all there; a directory stores all as <sha256>.png.")
    static let imagesKeepWithheld = Self("images.keep_withheld", .boolean, default: .boolean(true),
        "Keep the image a decision withholds (a blocked image, the original of a censored one) in the audit database's withheld_images table, readable by reviewers only; false keeps none.")
    static let healthStallTimeout = Self("health.stall_timeout_ms", .integer, default: .integer(600_000),
        "/health answers 503 when the worker made no progress (a poll, a sampling step, a retry) this long; must exceed the slowest single step. 0 turns it off.")

    static let consoleHost = Self("console.host", .string, default: .string("127.0.0.1"),
        "Address `chaperone audit serve` binds; loopback keeps the console on this machine (bind another only with TLS or behind a proxy that has it).")
    static let consolePort = Self("console.port", .integer, default: .integer(8470), "Port of the audit console; 0 picks a free one.")
    static let consoleTLSCertificate = Self("console.tls_certificate", .string, default: .none, "PEM certificate chain: with console.tls_key the console speaks HTTPS.")
    static let consoleTLSKey = Self("console.tls_key", .string, default: .none, "PEM private key of console.tls_certificate.")
    static let consoleSessionHours = Self("console.session_hours", .integer, default: .integer(8), "Hours a console login lasts, 1 to 168.")

    /// Every key, in the order the documentation lists them.
    public static let all: [ConfigurationKey] = [
        workerID,
        kafkaBootstrapServers, kafkaGroupID, kafkaTransactionalID, kafkaSessionTimeout, kafkaMaxPollInterval,
        kafkaAssignmentStrategy, kafkaGroupInstanceID, kafkaMessageMaxBytes,
        kafkaSecurityProtocol, kafkaSASLMechanism, kafkaSASLUsername, kafkaSASLPassword,
        kafkaSSLCALocation, kafkaSSLCertificateLocation, kafkaSSLKeyLocation, kafkaSSLKeyPassword,
        topicsRequests, topicsResults, topicsDLQ,
        databaseURL, databaseMigrate, databaseMigrations, databaseProbeInterval, databaseConnectTimeout,
        databaseStatementTimeout, databaseTCPUserTimeout, databaseKeepalivesIdle, databaseKeepalivesInterval, databaseKeepalivesCount,
        retryInitialBackoff, retryMaxBackoff,
        httpHost, httpPort,
        limitsMaxMessageBytes, limitsMaxSteps, limitsMaxPixels, limitsMaxPromptLength, limitsMaxGuidanceScale,
        limitsAllowedSchedulers, limitsMaxSemanticEdits, limitsMaxAttempts,
        policyForceSafeGen, policyMinimumSafetyPreset,
        modelPath, modelOverlay, modelNudeNet, modelRoot, modelPolicy, modelPromptLexicon, modelFairnessFamilies, modelPromptEmbedding,
        logLevel, logFormat, shutdownMaxSeconds, imagesStore, imagesKeepWithheld, healthStallTimeout,
        consoleHost, consolePort, consoleTLSCertificate, consoleTLSKey, consoleSessionHours,
    ]

    /// The key named `name`, if there is one.
    public static func named(_ name: String) -> ConfigurationKey? { all.first { $0.name == name } }

    /// Environment variables whose values are secrets (never logged or shown).
    static var secretEnvironmentVariables: Set<String> { Set(all.filter(\.isSecret).map(\.environmentVariable)) }

    /// The keys as a Markdown table (key, environment variable, default, meaning): what the
    /// README shows and `chaperone config keys` prints.
    public static func markdownTable() -> String {
        var lines = ["| key | environment | default | meaning |", "| --- | --- | --- | --- |"]
        for key in all {
            let secret = key.isSecret ? " Secret: never logged." : ""
            let shown: String
            switch key.defaultValue {
            case .none, .derived: shown = key.defaultValue.text
            default: shown = "`\(key.defaultValue.text)`"
            }
            lines.append("| `\(key.name)` | `\(key.environmentVariable)` | \(shown) | \(key.summary)\(secret) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension ConfigReader {
    /// The key's value, or its default; nil when it has neither (a `.derived` default is the
    /// caller's to work out).
    func string(_ key: ConfigurationKey) -> String? {
        if let value = string(forKey: ConfigKey(key.name), isSecret: key.isSecret) { return value }
        if case .string(let value) = key.defaultValue { return value }
        return nil
    }

    func int(_ key: ConfigurationKey) -> Int {
        guard case .integer(let fallback) = key.defaultValue else { preconditionFailure("\(key.name) has no integer default") }
        return int(forKey: ConfigKey(key.name), isSecret: key.isSecret, default: fallback)
    }

    func double(_ key: ConfigurationKey) -> Double {
        guard case .number(let fallback) = key.defaultValue else { preconditionFailure("\(key.name) has no number default") }
        return double(forKey: ConfigKey(key.name), isSecret: key.isSecret, default: fallback)
    }

    func bool(_ key: ConfigurationKey) -> Bool {
        guard case .boolean(let fallback) = key.defaultValue else { preconditionFailure("\(key.name) has no boolean default") }
        return bool(forKey: ConfigKey(key.name), isSecret: key.isSecret, default: fallback)
    }

    func stringArray(_ key: ConfigurationKey) -> [String] {
        guard case .list(let fallback) = key.defaultValue else { preconditionFailure("\(key.name) has no list default") }
        return stringArray(forKey: ConfigKey(key.name), isSecret: key.isSecret, default: fallback)
    }
}

/// Collects the keys whose value is present but cannot be read as the key's kind (`abc` for
/// an integer), so the configuration refuses them by name instead of taking the default.
final class ConfigurationProblems: AccessReporter, Sendable {
    private let keys = Mutex<[String]>([])

    func report(_ event: AccessEvent) {
        let failedLookup = event.providerResults.contains { if case .failure = $0.result { true } else { false } }
        guard event.conversionError != nil || failedLookup else { return }
        let name = event.metadata.key.components.joined(separator: ".")
        keys.withLock { if !$0.contains(name) { $0.append(name) } }
    }

    /// The keys with unreadable values, in the order they were read.
    var invalidKeys: [String] { keys.withLock { $0 } }
}

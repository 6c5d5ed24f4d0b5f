import ArgumentParser
import Configuration
import Logging
import Engine
import Tensor
import Worker

/// `chaperone worker`: consume requests, generate, score, decide, audit, publish.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a moderation worker in the consumer group.",
        discussion: """
            Configuration precedence: flags, then CHAPERONE_* environment variables, then the JSON \
            config file, then defaults. Serves /metrics, /health and /ready on --http-port. Stops \
            gracefully on SIGTERM or SIGINT: finishes the current request (or hands it back after \
            --max-shutdown-seconds), commits, and closes.
            """
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "Model folder in the diffusers layout (CHAPERONE_MODEL_PATH).")
    var model: String?

    @Option(help: "SafeGen overlay: a tensor file or UNet folder (CHAPERONE_MODEL_OVERLAY).")
    var overlay: String?

    @Option(help: "NudeNet v3 320n.onnx (CHAPERONE_MODEL_NUDENET); without it no nudity detector runs.")
    var nudenet: String?

    @Option(help: "Moderation policy JSON (CHAPERONE_MODEL_POLICY). Default: the embedded policy.")
    var policy: String?

    @Option(help: "Worker id in results and audit rows (CHAPERONE_WORKER_ID). Default: host-pid.")
    var workerID: String?

    @Option(help: "Consumer group (CHAPERONE_KAFKA_GROUP_ID). Default: chaperone-workers.")
    var groupID: String?

    @Option(help: "Kafka transactional id, unique per worker; enables transactions (CHAPERONE_KAFKA_TRANSACTIONAL_ID).")
    var transactionalID: String?

    @Option(help: "Port of /metrics, /health, /ready; 0 disables (CHAPERONE_HTTP_PORT). Default: 9464.")
    var httpPort: Int?

    @Option(help: "Largest steps accepted (CHAPERONE_LIMITS_MAX_STEPS). Default: 100.")
    var maxSteps: Int?

    @Option(help: "Largest width*height accepted (CHAPERONE_LIMITS_MAX_PIXELS). Default: 1048576.")
    var maxPixels: Int?

    @Option(help: "Longest prompt in characters (CHAPERONE_LIMITS_MAX_PROMPT_LENGTH). Default: 2000.")
    var maxPromptLength: Int?

    @Option(help: "Longest graceful shutdown in seconds (CHAPERONE_SHUTDOWN_MAX_SECONDS). Default: 30.")
    var maxShutdownSeconds: Int?

    @Flag(help: "Do not apply pending audit migrations at start.")
    var noMigrate = false

    func run() async throws {
        var flags = options.flagValues
        if let model { flags["model.path"] = .string(model) }
        if let overlay { flags["model.overlay"] = .string(overlay) }
        if let nudenet { flags["model.nudenet"] = .string(nudenet) }
        if let policy { flags["model.policy"] = .string(policy) }
        if let workerID { flags["worker.id"] = .string(workerID) }
        if let groupID { flags["kafka.group_id"] = .string(groupID) }
        if let transactionalID { flags["kafka.transactional_id"] = .string(transactionalID) }
        if let httpPort { flags["http.port"] = .int(httpPort) }
        if let maxSteps { flags["limits.max_steps"] = .int(maxSteps) }
        if let maxPixels { flags["limits.max_pixels"] = .int(maxPixels) }
        if let maxPromptLength { flags["limits.max_prompt_length"] = .int(maxPromptLength) }
        if let maxShutdownSeconds { flags["shutdown.max_seconds"] = .int(maxShutdownSeconds) }
        if noMigrate { flags["database.migrate"] = .bool(false) }

        let configuration = try await WorkerConfiguration.loadForCommand(flags: flags, configFile: options.config)
        WorkerRuntime.bootstrapLogging(format: configuration.logFormat, level: configuration.logLevel)
        let registry = WorkerRuntime.bootstrapMetrics()
        let logger = Logger(label: "chaperone.worker")
        TensorMemory.retainFreedBuffers()
        do {
            let components = try await EngineRegistry.components(factory: shippedEngineFactory, configuration: configuration)
            try await WorkerRuntime.run(configuration: configuration, components: components, registry: registry, logger: logger)
        } catch let error as WorkerError {
            logger.critical("worker cannot start", metadata: ["error": "\(error)"])
            if error.code == .invalidConfiguration { throw ExitCode(ExitStatus.invalidConfiguration) }
            throw error
        }
    }
}

/// The diffusion engine's factory for `chaperone worker --model DIR`.
///
/// The native engine sets this to its `ModelComponentsFactory` (loading the model folder, the
/// SafeGen overlay, the harm scorers and the moderation policy). While it is nil, the worker
/// refuses to start with a message naming what is missing.
let shippedEngineFactory: (any ModelComponentsFactory)? = NativeEngineFactory()

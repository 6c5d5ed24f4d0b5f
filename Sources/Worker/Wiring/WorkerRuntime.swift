import AuditStore
import Foundation
import Kafka
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// Assembles and runs a worker: migrations, audit repository, Kafka consumer and producer,
/// the request loop, and the status server, in one `ServiceGroup` that shuts down gracefully on
/// SIGTERM or SIGINT within `configuration.maxShutdown`.
public enum WorkerRuntime {
    /// Bootstraps logging (text or JSON) once per process.
    public static func bootstrapLogging(format: String, level logLevel: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = format == "json" ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
    }

    /// Bootstraps swift-metrics into a Prometheus registry once per process and returns it.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Generation on a CPU takes seconds to many minutes: stage histograms reach an hour.
        factory.durationHistogramBuckets["chaperone_stage_duration_seconds"] = [
            .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
            .seconds(300), .seconds(600), .seconds(1800), .seconds(3600),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Runs the worker until shut down. Throws at start-up when a dependency is missing.
    /// `decorate` may wrap the assembled request components (the test worker injects faults
    /// there); the default uses them as they are.
    public static func run(
        configuration: WorkerConfiguration, components: ModelComponents, registry: PrometheusCollectorRegistry, logger: Logger,
        decorate: (RequestProcessor.Components) -> RequestProcessor.Components = { $0 }
    ) async throws {
        guard let databaseURL = configuration.databaseURL, !databaseURL.isEmpty else {
            throw WorkerError(.invalidConfiguration, "no database configured: pass --database-url or set CHAPERONE_DATABASE_URL")
        }
        let health = WorkerHealth()
        let repository = try await connectWithRetry(logger: logger, health: health) {
            try await AuditRepository.connect(url: databaseURL, settings: configuration.databaseConnection, logger: logger)
        }
        let migrator = try Migrator(
            connection: repository.connection, directory: URL(fileURLWithPath: configuration.migrationsDirectory, isDirectory: true), logger: logger)
        if configuration.migrate {
            let report = try await migrator.migrate()
            logger.info("audit schema ready", metadata: ["version": "\(report.version)", "applied": "\(report.applied)"])
        } else {
            try await requireCurrentSchema(migrator)
            logger.info("audit schema ready (not migrating)", metadata: ["version": "\(migrator.migrations.last?.version ?? 0)"])
        }

        var consumerConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: configuration.bootstrapServers, groupID: configuration.groupID, topics: [configuration.topics.requests])
        consumerConfiguration.clientID = configuration.workerID
        consumerConfiguration.sessionTimeout = configuration.sessionTimeout
        consumerConfiguration.heartbeatInterval = .milliseconds(max(100, Int(configuration.sessionTimeout.components.seconds) * 1000 / 10))
        consumerConfiguration.maxPollInterval = configuration.maxPollInterval
        consumerConfiguration.assignmentStrategy = configuration.assignmentStrategy
        consumerConfiguration.groupInstanceID = configuration.groupInstanceID
        consumerConfiguration.additionalProperties.merge(configuration.kafkaSecurity) { _, new in new }
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: configuration.bootstrapServers)
        producerConfiguration.clientID = configuration.workerID
        producerConfiguration.transactionalID = configuration.transactionalID
        producerConfiguration.messageMaxBytes = configuration.messageMaxBytes
        producerConfiguration.additionalProperties.merge(configuration.kafkaSecurity) { _, new in new }
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        let publisher = KafkaResultPublisher(producer: producer, consumer: consumer)
        try await publisher.prepare()

        let (imageStore, imageStorePolicy) = try Self.imageStore(configuration.imageStore, repository: repository)
        let processor = RequestProcessor(
            settings: .init(workerID: configuration.workerID, topics: configuration.topics, limits: configuration.limits,
                            mitigationPolicy: configuration.mitigationPolicy, backoff: configuration.retryBackoff,
                            maxAttempts: configuration.maxAttempts, messageMaxBytes: configuration.messageMaxBytes,
                            imageStorePolicy: imageStorePolicy, keepWithheldImages: configuration.keepWithheldImages),
            components: decorate(.init(generator: components.generator, scorer: components.scorer, policy: components.policy,
                                       censor: components.censor, audit: (repository), publisher: publisher,
                                       imageStore: imageStore, fairness: repository)),
            health: health, logger: logger)
        // Readiness follows the audit database while idle too (the request path marks it while busy).
        let probe = configuration.databaseProbeInterval > .zero
            ? IdleProbe(dependency: "audit", interval: configuration.databaseProbeInterval, timeout: max(configuration.databaseProbeInterval, .seconds(1))) {
                try await repository.probe()
            }
            : nil
        let worker = WorkerService(
            consumer: KafkaRequestConsumer(consumer: consumer), processor: processor, health: health, logger: logger, idleProbe: probe)

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // First in the group, so it stops last: spans of the final requests are still exported.
        if let tracing = try RequestTracing.bootstrap(environment: ProcessInfo.processInfo.environment, logger: logger) {
            services.append(.init(service: tracing))
        }
        if configuration.httpPort != 0 {
            let status = StatusServer.application(
                host: configuration.httpHost, port: configuration.httpPort, registry: registry, health: health, logger: logger,
                stallTimeout: configuration.stallTimeout)
            services.append(.init(service: status))
        }
        services.append(.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.maxShutdown
        logger.info("worker starting", metadata: [
            "version": "\(BuildInfo.version)", "commit": "\(BuildInfo.commit)",
            "worker_id": "\(configuration.workerID)", "group": "\(configuration.groupID)",
            "requests": "\(configuration.topics.requests)", "transactional": "\(publisher.isTransactional)",
            "assignment_strategy": "\(configuration.assignmentStrategy.rawValue)", "librdkafka": "\(LibRdKafkaVersion.description)",
            "group_instance_id": "\(configuration.groupInstanceID ?? "-")",
        ])
        try await ServiceGroup(configuration: groupConfiguration).run()
        try? await producer.flush(timeout: .seconds(5))
        try? await producer.close()
        logger.info("worker stopped")
    }

    /// The image store `images.store` names, and when it is used: unset, the audit database's
    /// table for results too large to carry their image; `postgresql` or a directory, always.
    static func imageStore(_ setting: String?, repository: AuditRepository) throws -> (any ImageStoring, ImageStorePolicy) {
        switch setting {
        case nil: return (PostgresImageStore(repository: repository), .whenTooLarge)
        case "postgresql"?: return (PostgresImageStore(repository: repository), .always)
        case let directory?:
            do {
                return (try DirectoryImageStore(directory: directory), .always)
            } catch {
                throw WorkerError(.invalidConfiguration, "images.store '\(directory)' is not a usable directory: \(error)")
            }
        }
    }

    /// Refuses to start, naming what is missing, when the database lacks a migration this build
    /// ships: its statements would fail on the first request instead. For `database.migrate`
    /// off, where applying them is an operator's step.
    static func requireCurrentSchema(_ migrator: Migrator) async throws {
        let pending = try await migrator.pendingMigrations()
        guard !pending.isEmpty else { return }
        throw WorkerError(.invalidConfiguration, missingMigrationsMessage(pending))
    }

    /// "the audit schema lacks migration 004_x.sql; run `chaperone audit migrate`" (or
    /// "migrations a.sql, b.sql").
    static func missingMigrationsMessage(_ pending: [Migration]) -> String {
        let files = pending.map(\.fileName).joined(separator: ", ")
        return "the audit schema lacks migration\(pending.count == 1 ? "" : "s") \(files); "
            + "run `chaperone audit migrate` (or start a worker with database.migrate=true) before starting workers with database.migrate=false"
    }

    /// Connects to a dependency, retrying with backoff while it is unreachable (reported as not ready).
    static func connectWithRetry<T>(logger: Logger, health: WorkerHealth, _ connect: () async throws -> T) async throws -> T {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        var attempts = 0
        while true {
            do {
                let value = try await connect()
                health.markAvailable("audit")
                return value
            } catch {
                attempts += 1
                health.markUnavailable("audit", reason: RequestProcessor.safeReason(error))
                if attempts >= 30 {
                    throw WorkerError(.dependencyUnavailable, "PostgreSQL unreachable after \(attempts) attempts: \(error)")
                }
                logger.warning("PostgreSQL unreachable, retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: backoff.nextDelay())
            }
        }
    }
}

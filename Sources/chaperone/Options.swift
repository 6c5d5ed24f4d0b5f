import ArgumentParser
import Configuration

/// Options shared by commands that read the worker configuration. Each flag given on the
/// command line wins over the environment (`CHAPERONE_*`) and the config file.
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "JSON config file (also CHAPERONE_CONFIG).")
    var config: String?

    @Option(help: "Kafka bootstrap servers, host:port[,host:port] (CHAPERONE_KAFKA_BOOTSTRAP_SERVERS).")
    var bootstrapServers: String?

    @Option(help: "PostgreSQL URL of the audit database (CHAPERONE_DATABASE_URL).")
    var databaseURL: String?

    @Option(help: "Requests topic (CHAPERONE_TOPICS_REQUESTS). Default: chaperone.requests.")
    var requestsTopic: String?

    @Option(name: .customLong("log-format"), help: "Log format: text or json (CHAPERONE_LOG_FORMAT).")
    var logFormat: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (CHAPERONE_LOG_LEVEL).")
    var logLevel: String?

    /// The flags that were given, keyed by configuration key.
    var flagValues: [String: ConfigContent] {
        var values: [String: ConfigContent] = [:]
        if let bootstrapServers { values["kafka.bootstrap_servers"] = .string(bootstrapServers) }
        if let databaseURL { values["database.url"] = .string(databaseURL) }
        if let requestsTopic { values["topics.requests"] = .string(requestsTopic) }
        if let logFormat { values["log.format"] = .string(logFormat) }
        if let logLevel { values["log.level"] = .string(logLevel) }
        return values
    }
}

import ArgumentParser
import AuditStore
import Contracts
import Foundation
import Worker

/// `chaperone dlq …`: the dead-letter topic.
struct DLQ: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Work with the dead-letter topic of rejected requests.",
        subcommands: [DLQReplay.self])
}

/// `chaperone dlq replay`: re-submits rejected requests after a fix, under new ids
/// `<id>.replay-<n>` with the attribute `replay_of`, so the original rejection rows stay as
/// they are and the new decisions link back to them.
struct DLQReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-submit dead-lettered requests to the requests topic under replay ids, keeping their audit history.",
        discussion: """
            Reads the whole DLQ (a fresh consumer group; nothing is committed) and, for each \
            selected rejection, sends the original request with request_id <id>.replay-<n> and \
            attributes.replay_of = <audit id>. A request whose replay is already in the audit log \
            is skipped unless --again is given. Kafka and database settings are the worker's \
            (config file, CHAPERONE_* environment, flags), security settings included. Prints a \
            JSON report.
            """)

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "Dead-letter topic (CHAPERONE_TOPICS_DLQ). Default: chaperone.requests.dlq.")
    var dlqTopic: String?

    @Option(name: .customLong("reason"), help: "Only rejections with this reason code (repeatable), e.g. unsupported_scheduler.")
    var reasons: [String] = []

    @Flag(help: "Replay requests that were replayed before, as the next attempt.")
    var again = false

    @Flag(help: "Also resend messages that are not JSON objects, byte for byte (they get new synthetic audit ids).")
    var includeUnparseable = false

    @Flag(help: "Plan and report only; send nothing.")
    var dryRun = false

    @Option(help: "Stop after this many DLQ messages.")
    var max: Int?

    @Option(help: "Stop when no message arrived for this many seconds. Default: 5.")
    var idleSeconds: Double = 5

    func validate() throws {
        for reason in reasons where RejectionCode(rawValue: reason) == nil {
            throw ValidationError("unknown reason code '\(reason)'; known: \(RejectionCode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let max, max < 1 { throw ValidationError("--max must be at least 1") }
        guard idleSeconds > 0, idleSeconds.isFinite else { throw ValidationError("--idle-seconds must be positive") }
    }

    func run() async throws {
        var flags = options.flagValues
        if let dlqTopic { flags["topics.dlq"] = .string(dlqTopic) }
        let configuration = try await WorkerConfiguration.loadForCommand(flags: flags, configFile: options.config)
        guard let databaseURL = configuration.databaseURL else {
            throw ValidationError("no audit database: pass --database-url or set CHAPERONE_DATABASE_URL (replays are checked against the audit log)")
        }
        let audit = try await AuditRepository.connect(url: databaseURL)
        let settings = DLQReplayer.Settings(
            bootstrapServers: configuration.bootstrapServers, deadLetterTopic: configuration.topics.deadLetters,
            requestsTopic: configuration.topics.requests, kafkaProperties: configuration.kafkaSecurity,
            idleTimeout: .milliseconds(Int(idleSeconds * 1000)), maxMessages: max, dryRun: dryRun, again: again)
        let planner = DLQReplayPlanner(
            includeUnparseable: includeUnparseable, reasonCodes: Set(reasons.compactMap(RejectionCode.init(rawValue:))))
        let report = try await DLQReplayer(settings: settings, planner: planner, audit: audit).run()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    }
}

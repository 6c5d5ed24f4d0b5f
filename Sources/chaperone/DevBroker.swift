import ArgumentParser
import Dispatch
import Foundation
import Kafka
import Logging

/// `chaperone dev-broker`: an embedded Kafka for development and tests.
///
/// Starts librdkafka's mock cluster (the real Kafka protocol on loopback ports, in memory),
/// creates the project's topics, prints the bootstrap servers as one line on standard output
/// and runs until SIGINT or SIGTERM. Any Kafka client (the worker, kcat) can use it. Logs go
/// to standard error so standard output carries only the bootstrap line.
///
/// The mock cluster implements producing (idempotent and transactional), consumer groups and
/// offset commits, but not transaction markers, transactional offset commits or the
/// CreateTopics request: point production at a real cluster.
struct DevBroker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run an in-memory Kafka cluster on loopback until stopped, printing its bootstrap servers."
    )

    @Option(help: "Number of brokers.")
    var brokers: Int = 1

    @Option(help: "Topic of generation requests.")
    var requestsTopic: String = "chaperone.requests"

    @Option(help: "Partitions of the requests topic.")
    var requestsPartitions: Int = 6

    @Option(help: "Topic of moderation results.")
    var resultsTopic: String = "chaperone.results"

    @Option(help: "Partitions of the results topic.")
    var resultsPartitions: Int = 6

    @Option(help: "Dead-letter topic for rejected requests.")
    var dlqTopic: String = "chaperone.requests.dlq"

    @Option(help: "Partitions of the dead-letter topic.")
    var dlqPartitions: Int = 1

    @Option(help: "Also write the bootstrap servers (one line) to this file.")
    var bootstrapFile: String?

    func validate() throws {
        guard (1...64).contains(brokers) else { throw ValidationError("--brokers must be 1...64") }
        for (name, count) in [("requests", requestsPartitions), ("results", resultsPartitions), ("dlq", dlqPartitions)] {
            guard (1...10_000).contains(count) else { throw ValidationError("--\(name)-partitions must be 1...10000") }
        }
        let topics = [requestsTopic, resultsTopic, dlqTopic]
        guard Set(topics).count == topics.count, topics.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("topic names must be distinct and non-empty")
        }
    }

    func run() async throws {
        let logger = Logger(label: "chaperone.dev-broker") { StreamLogHandler.standardError(label: $0) }
        let stop = SignalWaiter(signals: [SIGINT, SIGTERM])

        let cluster = try MockCluster(brokers: brokers, logger: logger)
        try cluster.createTopic(requestsTopic, partitions: requestsPartitions)
        try cluster.createTopic(resultsTopic, partitions: resultsPartitions)
        try cluster.createTopic(dlqTopic, partitions: dlqPartitions)

        let line = cluster.bootstrapServers + "\n"
        if let bootstrapFile {
            try Data(line.utf8).write(to: URL(fileURLWithPath: bootstrapFile), options: .atomic)
        }
        FileHandle.standardOutput.write(Data(line.utf8))
        logger.info(
            "dev broker running",
            metadata: [
                "bootstrap": "\(cluster.bootstrapServers)",
                "topics": "\(requestsTopic)(\(requestsPartitions)), \(resultsTopic)(\(resultsPartitions)), \(dlqTopic)(\(dlqPartitions))",
            ]
        )

        let signal = await stop.wait()
        logger.info("dev broker stopping", metadata: ["signal": "\(signal)"])
        if let bootstrapFile {
            try? FileManager.default.removeItem(atPath: bootstrapFile)
        }
        withExtendedLifetime(cluster) {}
    }
}

/// Waits for the first of some POSIX signals, delivered through dispatch sources instead of
/// the default handler (which would kill the process without cleanup).
private final class SignalWaiter {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>

    init(signals: [Int32]) {
        let queue = DispatchQueue(label: "chaperone.dev-broker.signals")
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    /// The number of the first signal received.
    func wait() async -> Int32 {
        for await number in stream { return number }
        return 0
    }
}

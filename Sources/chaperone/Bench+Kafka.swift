import ArgumentParser
import Foundation
import Kafka
import Logging

/// `chaperone bench kafka`: cost of the Kafka operations a worker does per request, measured
/// against librdkafka's in-process mock cluster on loopback.
///
/// Reports latency percentiles of an acknowledged send, a synchronous offset commit and a
/// whole transaction (begin, send, send offsets, commit), plus pipelined send and consume
/// throughput. The mock broker stores in memory, so these are client and protocol costs, not
/// a real cluster's disk and replication costs.
struct BenchKafka: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Measure send, commit, transaction latency and throughput on the mock cluster; print JSON."
    )

    @Option(help: "Messages for the throughput runs.")
    var messages: Int = 5000

    @Option(help: "Value size in bytes.")
    var valueBytes: Int = 1024

    @Option(help: "Sends in flight at once in the throughput run.")
    var inFlight: Int = 256

    @Option(help: "Samples for each latency measurement.")
    var samples: Int = 200

    func validate() throws {
        guard messages > 0, valueBytes >= 0, inFlight > 0, samples > 0 else {
            throw ValidationError("--messages, --in-flight and --samples must be positive, --value-bytes not negative")
        }
    }

    struct Latency: Codable, Sendable {
        var samples: Int
        var p50Ms: Double
        var p99Ms: Double
        var meanMs: Double

        init(_ seconds: [Double]) {
            let sorted = seconds.sorted()
            samples = sorted.count
            p50Ms = sorted[sorted.count / 2] * 1000
            p99Ms = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))] * 1000
            meanMs = sorted.reduce(0, +) / Double(sorted.count) * 1000
        }
    }

    struct Throughput: Codable, Sendable {
        var messages: Int
        var seconds: Double
        var messagesPerSecond: Double
        var megabytesPerSecond: Double
    }

    struct Result: Codable, Sendable {
        var benchmark = "kafka"
        var machine: BenchMachine
        var librdkafkaMockCluster = true
        var valueBytes: Int
        var sendAcknowledgedLatency: Latency
        var commitLatency: Latency
        var transactionLatency: Latency
        var sendThroughput: Throughput
        var consumeThroughput: Throughput
        var peakResidentSetBytes: UInt64?
    }

    func run() async throws {
        var logger = Logger(label: "chaperone.bench.kafka") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        let cluster = try MockCluster(brokers: 1, logger: logger)
        let topic = "bench"
        try cluster.createTopic(topic, partitions: 6)
        try cluster.createTopic("bench.results", partitions: 6)
        let value = [UInt8](repeating: 0x61, count: valueBytes)
        let clock = ContinuousClock()
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }

        let producer = try KafkaProducer(
            configuration: { var c = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers); c.linger = .zero; return c }(),
            logger: logger
        )
        // Acknowledged send, one at a time (what a worker waits for before committing).
        var sendTimes: [Double] = []
        for index in 0..<samples {
            let start = clock.now
            try await producer.send(topic: topic, key: "latency-\(index)", value: value)
            sendTimes.append(seconds(clock.now - start))
        }

        // Pipelined sends.
        let sendStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<messages {
                if index >= inFlight { try await group.next() }
                group.addTask { try await producer.send(topic: topic, key: "bulk-\(index)", value: value) }
            }
            try await group.waitForAll()
        }
        let sendSeconds = seconds(clock.now - sendStart)
        try await producer.close()

        // Consume everything produced so far; time from the first to the last message.
        var consumerConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: cluster.bootstrapServers, groupID: "bench", topics: [topic]
        )
        consumerConfiguration.sessionTimeout = .seconds(10)
        consumerConfiguration.maxPollInterval = .seconds(10)
        consumerConfiguration.heartbeatInterval = .seconds(1)
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        let total = samples + messages
        var received: [KafkaConsumerMessage] = []
        var firstAt: ContinuousClock.Instant?
        let deadline = clock.now + .seconds(120)
        while received.count < total, clock.now < deadline {
            if case .message(let message)? = try await consumer.poll(timeout: .milliseconds(100)) {
                if firstAt == nil { firstAt = clock.now }
                received.append(message)
            }
        }
        guard received.count == total, let firstAt else {
            throw ValidationError("consumed \(received.count) of \(total) messages before the deadline")
        }
        let consumeSeconds = seconds(clock.now - firstAt)

        // Synchronous commits of consecutive positions.
        var commitTimes: [Double] = []
        for message in received.prefix(samples) {
            let start = clock.now
            try await consumer.commit(message)
            commitTimes.append(seconds(clock.now - start))
        }

        // Whole transactions: one result record plus the consumer offset.
        let transactional = try KafkaProducer(
            configuration: {
                var c = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers)
                c.transactionalID = "bench"
                c.linger = .zero
                return c
            }(),
            logger: logger
        )
        try await transactional.initTransactions()
        let metadata = try await consumer.groupMetadata()
        var transactionTimes: [Double] = []
        for message in received.prefix(samples) {
            let start = clock.now
            try transactional.beginTransaction()
            try await transactional.send(topic: "bench.results", key: message.key, value: value)
            try await transactional.sendOffsetsToTransaction([message.nextOffset], groupMetadata: metadata)
            try await transactional.commitTransaction()
            transactionTimes.append(seconds(clock.now - start))
        }
        try await transactional.close()
        try await consumer.close()

        let megabytes = Double(valueBytes) / 1_000_000
        try printBenchJSON(Result(
            machine: .current(),
            valueBytes: valueBytes,
            sendAcknowledgedLatency: Latency(sendTimes),
            commitLatency: Latency(commitTimes),
            transactionLatency: Latency(transactionTimes),
            sendThroughput: Throughput(
                messages: messages, seconds: sendSeconds,
                messagesPerSecond: Double(messages) / sendSeconds, megabytesPerSecond: Double(messages) * megabytes / sendSeconds
            ),
            consumeThroughput: Throughput(
                messages: total, seconds: consumeSeconds,
                messagesPerSecond: Double(total) / consumeSeconds, megabytesPerSecond: Double(total) * megabytes / consumeSeconds
            ),
            peakResidentSetBytes: peakResidentSetBytes()
        ))
        withExtendedLifetime(cluster) {}
    }
}

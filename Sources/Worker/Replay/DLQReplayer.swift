import AuditStore
import Contracts
import Foundation
import Kafka
import Logging

/// Reads the dead-letter topic from its beginning and re-submits the selected requests to the
/// requests topic under replay ids (see ``DLQReplayPlanner``), keeping the audit history: the
/// original rejection rows are never touched, and the audit log tells which messages were
/// already replayed.
///
/// It reads with a fresh consumer group and commits nothing, so every run sees the whole topic;
/// it stops once no message arrived for `idleTimeout` (the topic is drained) or after
/// `maxMessages` messages.
public struct DLQReplayer: Sendable {
    public struct Settings: Sendable {
        public var bootstrapServers: String
        public var deadLetterTopic: String
        public var requestsTopic: String
        /// librdkafka properties for both clients (security settings and the like).
        public var kafkaProperties: [String: String]
        public var idleTimeout: Duration
        public var maxMessages: Int?
        /// Plan and report only; send nothing.
        public var dryRun: Bool
        /// Replay messages that were replayed before, as the next attempt.
        public var again: Bool

        public init(
            bootstrapServers: String, deadLetterTopic: String = "chaperone.requests.dlq",
            requestsTopic: String = "chaperone.requests", kafkaProperties: [String: String] = [:],
            idleTimeout: Duration = .seconds(5), maxMessages: Int? = nil, dryRun: Bool = false, again: Bool = false
        ) {
            self.bootstrapServers = bootstrapServers
            self.deadLetterTopic = deadLetterTopic
            self.requestsTopic = requestsTopic
            self.kafkaProperties = kafkaProperties
            self.idleTimeout = idleTimeout
            self.maxMessages = maxMessages
            self.dryRun = dryRun
            self.again = again
        }
    }

    /// One DLQ message and what was done with it.
    public struct Entry: Sendable, Codable, Equatable {
        public var partition: Int32
        public var offset: Int64
        /// The audit id of the rejection (nil when the envelope was unreadable).
        public var auditID: String?
        /// `resubmitted`, `planned` (dry run) or `skipped`.
        public var action: String
        /// The id the replay is sent under (nil when resent unchanged or skipped).
        public var replayID: String?
        public var reason: String?

        enum CodingKeys: String, CodingKey {
            case partition, offset, action, reason
            case auditID = "audit_id"
            case replayID = "replay_id"
        }
    }

    /// What a run did.
    public struct Report: Sendable, Codable, Equatable {
        public var examined: Int
        public var resubmitted: Int
        public var skipped: Int
        public var entries: [Entry]
    }

    public let settings: Settings
    public let planner: DLQReplayPlanner
    public let audit: AuditRepository
    let logger: Logger

    public init(settings: Settings, planner: DLQReplayPlanner, audit: AuditRepository, logger: Logger = Logger(label: "chaperone.dlq")) {
        self.settings = settings
        self.planner = planner
        self.audit = audit
        self.logger = logger
    }

    public func run() async throws -> Report {
        var consumerConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: settings.bootstrapServers, groupID: "chaperone-dlq-replay-\(UUID().uuidString.lowercased())",
            topics: [settings.deadLetterTopic])
        consumerConfiguration.clientID = "chaperone-dlq-replay"
        consumerConfiguration.autoOffsetReset = .earliest
        consumerConfiguration.additionalProperties = settings.kafkaProperties
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, logger: logger)
        var producer: KafkaProducer?
        if !settings.dryRun {
            var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: settings.bootstrapServers)
            producerConfiguration.clientID = "chaperone-dlq-replay"
            producerConfiguration.additionalProperties = settings.kafkaProperties
            producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        }

        var report = Report(examined: 0, resubmitted: 0, skipped: 0, entries: [])
        let clock = ContinuousClock()
        var lastActivity = clock.now
        var assigned = false
        // Before the first assignment the group is still forming: allow a longer wait.
        let startupTimeout = max(settings.idleTimeout, .seconds(30))
        do {
            while true {
                if let max = settings.maxMessages, report.examined >= max { break }
                let waited = clock.now - lastActivity
                if assigned ? waited >= settings.idleTimeout : waited >= startupTimeout { break }
                guard let event = try await consumer.poll(timeout: .milliseconds(200)) else { continue }
                switch event {
                case .partitionsAssigned:
                    assigned = true
                    lastActivity = clock.now
                case .partitionsRevoked:
                    continue
                case .error(let error):
                    logger.warning("kafka: \(error)")
                case .message(let message):
                    lastActivity = clock.now
                    report.examined += 1
                    let entry = try await replay(message, producer: producer)
                    if entry.action == "skipped" { report.skipped += 1 } else { report.resubmitted += 1 }
                    report.entries.append(entry)
                }
            }
            try await producer?.flush()
        } catch {
            try? await consumer.close()
            try? await producer?.close()
            throw error
        }
        try await consumer.close()
        try await producer?.close()
        return report
    }

    private func replay(_ message: KafkaConsumerMessage, producer: KafkaProducer?) async throws -> Entry {
        let earlier = try await earlierReplays(of: message.value)
        let plan = planner.plan(dlqValue: message.value, replayedIDs: earlier, again: settings.again)
        switch plan {
        case .skip(let auditID, let reason):
            return Entry(partition: message.partition, offset: message.offset, auditID: auditID, action: "skipped", replayID: nil, reason: reason)
        case .resubmit(let requestID, let key, let value, let replayOf):
            if let producer {
                try await producer.send(topic: settings.requestsTopic, key: key, value: value, headers: [
                    KafkaHeader(name: "chaperone-replay-of", string: replayOf),
                ])
            }
            return Entry(
                partition: message.partition, offset: message.offset, auditID: replayOf,
                action: producer == nil ? "planned" : "resubmitted", replayID: requestID, reason: nil)
        }
    }

    /// Audit ids of earlier replays of the request a DLQ envelope holds.
    private func earlierReplays(of value: [UInt8]) async throws -> Set<String> {
        guard let envelope = try? JSONDecoder().decode(DLQEnvelope.self, from: Data(value)) else { return [] }
        let base = envelope.requestID.map(DLQReplayPlanner.originalID(of:)) ?? DLQReplayPlanner.positionID(envelope.source)
        return Set(try await audit.requestIDs(startingWith: base + ".replay-"))
    }
}

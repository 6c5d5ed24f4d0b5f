import AuditStore
import Contracts
import Moderation

/// One message read from the requests topic, independent of the Kafka client.
public struct IncomingMessage: Sendable, Equatable {
    public var source: SourcePosition
    public var key: [UInt8]?
    public var value: [UInt8]
    /// The message's headers whose values are UTF-8 text (the W3C trace context among them);
    /// for a repeated name, the last one.
    public var headers: [String: String]

    public init(source: SourcePosition, key: [UInt8]?, value: [UInt8], headers: [String: String] = [:]) {
        self.source = source
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// The audit log as the worker uses it: insert-or-return-existing and lookup, and the durable
/// count of processing starts per input position behind poison quarantine.
public protocol AuditLog: Sendable {
    /// The stored row of `requestID`, payload included; nil when there is none.
    func decision(requestID: String) async throws -> DecisionRecord?
    /// Stores `record` unless a row with its request id exists; then returns the stored row.
    func insertDecision(_ record: DecisionRecord) async throws -> InsertOutcome
    /// Counts a start of processing the message at `source`; returns the count including it.
    func recordProcessingStart(of source: SourcePosition, workerID: String) async throws -> Int
    /// Takes back one start (the message was handed back, not crashed on).
    func retractProcessingStart(of source: SourcePosition) async throws
    /// Forgets the starts once the message's audit row is written.
    func clearProcessingStarts(of source: SourcePosition) async throws
    /// Keeps an image the decision withheld (blocked, or the original of a censored one) for
    /// reviewers, under its SHA-256; idempotent.
    func keepWithheldImage(sha256: String, bytes: [UInt8]) async throws
}

/// The PostgreSQL audit log (`decisions` and `delivery_attempts`) is the worker's audit log as it is.
extension AuditRepository: AuditLog {}

/// Tenants' fairness streams live in the audit database (`fairness_streams`), shared by all workers.
extension AuditRepository: FairnessAssigning {}

/// Publishes results and dead letters, and commits consumed offsets.
public protocol ResultPublishing: Sendable {
    /// Whether publish and offset commit happen in one Kafka transaction
    /// (then ``publishAndCommit(topic:key:payload:offset:)`` is used instead of the pair).
    var isTransactional: Bool { get }
    /// Publishes and returns when the broker acknowledged the message.
    func publish(topic: String, key: String, payload: [UInt8]) async throws
    /// Commits `offset + 1` of the consumed message's partition.
    func commit(_ consumed: SourcePosition) async throws
    /// Publishes and commits the consumed offset in one transaction.
    func publishAndCommit(topic: String, key: String, payload: [UInt8], offset consumed: SourcePosition) async throws
}

/// Topic names the worker uses.
public struct WorkerTopics: Sendable, Equatable, Codable {
    public var requests: String
    public var results: String
    public var deadLetters: String

    public init(requests: String = "chaperone.requests", results: String = "chaperone.results", deadLetters: String = "chaperone.requests.dlq") {
        self.requests = requests
        self.results = results
        self.deadLetters = deadLetters
    }
}

import Contracts
import Moderation

/// One message read from the requests topic, independent of the Kafka client.
public struct IncomingMessage: Sendable, Equatable {
    public var source: SourcePosition
    public var key: [UInt8]?
    public var value: [UInt8]

    public init(source: SourcePosition, key: [UInt8]?, value: [UInt8]) {
        self.source = source
        self.key = key
        self.value = value
    }
}

/// What the worker records for one request: the audit row including the exact bytes it
/// publishes, so a redelivery republishes them unchanged.
public struct AuditRow: Sendable, Equatable {
    /// The request id, or the synthetic id of an unreadable message.
    public var requestID: String
    public var tenant: String?
    /// `allow`, `censor`, `block` or `rejected`.
    public var decision: String
    /// JSON array of ``DecisionReason`` (or of the rejection for `rejected`).
    public var reasonsJSON: String
    public var prompt: String?
    public var negativePrompt: String?
    /// JSON object of ``AppliedMitigations`` (or `{}`).
    public var mitigationsJSON: String
    /// JSON array of ``HarmScore``.
    public var scoresJSON: String
    /// SHA-256 of the generated PNG.
    public var imageSHA256: String?
    public var modelSHA256: String?
    public var overlaySHA256: String?
    public var workerID: String
    public var source: SourcePosition
    /// Topic the payload is published to (results or DLQ).
    public var publishedTopic: String
    /// Key the payload is published with.
    public var publishedKey: String
    /// The exact published bytes.
    public var payload: [UInt8]
    /// The original message value of a rejected request.
    public var rawRequest: [UInt8]?
    /// JSON object of the request's `attributes`, nil when it carries none.
    public var attributesJSON: String?
    /// JSON array of ``ModerationTry``: every try of a request whose tenant escalates or aborts
    /// early; nil otherwise.
    public var triesJSON: String?
    /// SHA-256 (hex) of the message value as consumed: the idempotency key's content check.
    public var requestSHA256: String?

    public init(
        requestID: String, tenant: String?, decision: String, reasonsJSON: String, prompt: String?,
        negativePrompt: String?, mitigationsJSON: String, scoresJSON: String, imageSHA256: String?,
        modelSHA256: String?, overlaySHA256: String?, workerID: String, source: SourcePosition,
        publishedTopic: String, publishedKey: String, payload: [UInt8], rawRequest: [UInt8]?,
        attributesJSON: String? = nil, triesJSON: String? = nil, requestSHA256: String? = nil
    ) {
        self.requestID = requestID
        self.tenant = tenant
        self.decision = decision
        self.reasonsJSON = reasonsJSON
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.mitigationsJSON = mitigationsJSON
        self.scoresJSON = scoresJSON
        self.imageSHA256 = imageSHA256
        self.modelSHA256 = modelSHA256
        self.overlaySHA256 = overlaySHA256
        self.workerID = workerID
        self.source = source
        self.publishedTopic = publishedTopic
        self.publishedKey = publishedKey
        self.payload = payload
        self.rawRequest = rawRequest
        self.attributesJSON = attributesJSON
        self.triesJSON = triesJSON
        self.requestSHA256 = requestSHA256
    }

    /// What is kept of this entry once stored.
    public var stored: StoredDecision {
        StoredDecision(requestID: requestID, decision: decision, imageSHA256: imageSHA256,
                       publishedTopic: publishedTopic, publishedKey: publishedKey, payload: payload,
                       requestSHA256: requestSHA256, source: source)
    }
}

/// The part of a stored audit row the worker needs to republish it.
public struct StoredDecision: Sendable, Equatable {
    public var requestID: String
    public var decision: String
    public var imageSHA256: String?
    public var publishedTopic: String
    public var publishedKey: String
    public var payload: [UInt8]
    /// SHA-256 of the message the row was written for; nil for rows older than the column.
    public var requestSHA256: String?
    /// Where that message was read from; nil when unknown.
    public var source: SourcePosition?

    public init(
        requestID: String, decision: String, imageSHA256: String?, publishedTopic: String, publishedKey: String, payload: [UInt8],
        requestSHA256: String? = nil, source: SourcePosition? = nil
    ) {
        self.requestID = requestID
        self.decision = decision
        self.imageSHA256 = imageSHA256
        self.publishedTopic = publishedTopic
        self.publishedKey = publishedKey
        self.payload = payload
        self.requestSHA256 = requestSHA256
        self.source = source
    }

    /// Whether this row answers the message with SHA-256 `requestSHA256`: true for the same
    /// bytes (a redelivery), and for rows written before the hash was kept.
    public func answers(requestSHA256 other: String) -> Bool {
        requestSHA256 == nil || requestSHA256 == other
    }
}

/// The outcome of inserting an audit row that is unique on request id.
public enum AuditInsertOutcome: Sendable, Equatable {
    /// The row was written now.
    case inserted(StoredDecision)
    /// A row already existed (a redelivery, or another worker won a race): publish its bytes.
    case existing(StoredDecision)

    public var stored: StoredDecision {
        switch self {
        case .inserted(let stored), .existing(let stored): stored
        }
    }
}

/// The audit log as the worker uses it: insert-or-return-existing and lookup, and the durable
/// count of processing starts per input position behind poison quarantine.
public protocol AuditLog: Sendable {
    func find(requestID: String) async throws -> StoredDecision?
    func insert(_ entry: AuditRow) async throws -> AuditInsertOutcome
    /// Counts a start of processing the message at `source`; returns the count including it.
    func recordProcessingStart(_ source: SourcePosition, workerID: String) async throws -> Int
    /// Takes back one start (the message was handed back, not crashed on).
    func retractProcessingStart(_ source: SourcePosition) async throws
    /// Forgets the starts once the message's audit row is written.
    func clearProcessingStarts(_ source: SourcePosition) async throws
}

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

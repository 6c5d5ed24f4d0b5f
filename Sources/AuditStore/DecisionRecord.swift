import Contracts
import Foundation

/// One moderation decision as stored in the `decisions` table: what was decided, why, about
/// what, by which worker and models, where the request came from, and the exact bytes published.
/// The worker builds it, this module stores it, and a redelivery republishes the stored one:
/// one type from decision to audit log and back.
///
/// JSON fields (`reasons`, `mitigations`, `scores`) are JSON text. PostgreSQL stores them as
/// `jsonb`, which normalises whitespace and key order, so the text read back may be formatted
/// differently from the text written; `publishedPayload` and `rawRequest` come back byte for byte.
public struct DecisionRecord: Sendable, Hashable {
    /// The outcome recorded for a message: a moderation ``Contracts/Decision``, or `rejected`
    /// for a message that was never decided (invalid, duplicate id, poison, unstorable, …).
    public enum Decision: String, Sendable, Hashable, CaseIterable, Codable {
        case allow, censor, block, rejected

        /// The recorded form of a moderation decision.
        public init(_ moderated: Contracts.Decision) {
            switch moderated {
            case .allow: self = .allow
            case .censor: self = .censor
            case .block: self = .block
            }
        }
    }

    /// The request's id, or ``Contracts/SourcePosition/syntheticRequestID`` when it could not be read.
    public var requestID: String
    /// True when `requestID` was made from the message's position.
    public var requestIDIsSynthetic: Bool
    /// The tenant; nil only for rejected messages whose tenant could not be read.
    public var tenant: String?
    /// When the decision was made (stored to the microsecond).
    public var decidedAt: SQLTimestamp
    public var decision: Decision
    /// JSON array of the reasons behind the decision.
    public var reasonsJSON: String
    public var prompt: String?
    public var negativePrompt: String?
    /// JSON object of the mitigations applied.
    public var mitigationsJSON: String?
    /// JSON array of the harm scores.
    public var scoresJSON: String?
    /// Lowercase hex SHA-256 of the generated image (nil when none was generated).
    public var imageSHA256: String?
    public var modelSHA256: String?
    public var overlaySHA256: String?
    public var workerID: String
    /// Where the message was read from.
    public var source: SourcePosition
    /// The topic the outcome was published to (results or DLQ).
    public var publishedTopic: String
    /// The exact bytes published, republished as they are on redelivery.
    public var publishedPayload: [UInt8]
    /// The request's bytes as consumed; required for `rejected`, optional otherwise.
    public var rawRequest: [UInt8]?
    /// JSON object of the request's `attributes` (string values), nil when it carries none.
    public var attributesJSON: String?
    /// JSON array of the request's tries (escalation and early abort), nil when not recorded.
    public var triesJSON: String?
    /// Lowercase hex SHA-256 of the message value as consumed: tells a redelivery (same bytes)
    /// from another message reusing the request id. Nil on rows written before migration 004.
    public var requestSHA256: String?

    /// - Parameters:
    ///   - requestIDIsSynthetic: default: whether `requestID` is the synthetic id of `source`.
    ///   - decidedAt: default: now.
    public init(
        requestID: String, requestIDIsSynthetic: Bool? = nil, tenant: String?, decidedAt: SQLTimestamp? = nil,
        decision: Decision, reasonsJSON: String = "[]", prompt: String?, negativePrompt: String?,
        mitigationsJSON: String?, scoresJSON: String?, imageSHA256: String?, modelSHA256: String?,
        overlaySHA256: String?, workerID: String, source: SourcePosition, publishedTopic: String,
        publishedPayload: [UInt8], rawRequest: [UInt8]?, attributesJSON: String? = nil,
        triesJSON: String? = nil, requestSHA256: String? = nil
    ) {
        self.requestID = requestID
        self.requestIDIsSynthetic = requestIDIsSynthetic ?? (requestID == source.syntheticRequestID)
        self.tenant = tenant
        self.decidedAt = decidedAt ?? SQLTimestamp(Date())
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
        self.publishedPayload = publishedPayload
        self.rawRequest = rawRequest
        self.attributesJSON = attributesJSON
        self.triesJSON = triesJSON
        self.requestSHA256 = requestSHA256
    }

    /// The key the payload is published with: always the row's request id (results: the
    /// request id; DLQ: the request id or the synthetic id), so it is not stored separately.
    public var publishedKey: String { requestID }

    /// Whether this row answers the message with SHA-256 `requestSHA256`: true for the same
    /// bytes (a redelivery), and for rows written before the hash was kept.
    public func answers(requestSHA256 other: String) -> Bool {
        requestSHA256 == nil || requestSHA256 == other
    }

    /// Throws `invalidValue`, naming the field and byte offset, when a text field holds a NUL
    /// byte (PostgreSQL text cannot store it, and it must never be cut off silently), or when
    /// the request id is empty.
    public func validate() throws {
        let fields: [(String, String?)] = [
            ("request_id", requestID), ("tenant", tenant), ("reasons", reasonsJSON), ("prompt", prompt),
            ("negative_prompt", negativePrompt), ("mitigations", mitigationsJSON), ("scores", scoresJSON),
            ("image_sha256", imageSHA256), ("model_sha256", modelSHA256), ("overlay_sha256", overlaySHA256),
            ("worker_id", workerID), ("source_topic", source.topic), ("published_topic", publishedTopic),
            ("attributes", attributesJSON), ("tries", triesJSON), ("request_sha256", requestSHA256),
        ]
        for (name, value) in fields {
            guard let value, let nul = value.utf8.firstIndex(of: 0) else { continue }
            let offset = value.utf8.distance(from: value.utf8.startIndex, to: nul)
            throw AuditStoreError(
                .invalidValue,
                "decision field '\(name)' contains a NUL byte (U+0000) at UTF-8 byte offset \(offset); "
                    + "PostgreSQL text cannot store it, so such requests must be rejected before auditing")
        }
        if requestID.isEmpty {
            throw AuditStoreError(.invalidValue, "decision field 'request_id' is empty")
        }
    }
}

/// The result of ``AuditRepository/insertDecision(_:)``.
public enum InsertOutcome: Sendable, Hashable {
    /// The row was new and is now stored as given.
    case inserted(DecisionRecord)
    /// A row with this request_id already existed; this is the stored row (republish its payload).
    case alreadyPresent(DecisionRecord)

    /// The record now stored for the request.
    public var record: DecisionRecord {
        switch self {
        case .inserted(let record), .alreadyPresent(let record): record
        }
    }

    public var wasInserted: Bool {
        if case .inserted = self { return true }
        return false
    }
}

/// One row of the `audit_decisions` view: a decision without its payload bytes.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var requestID: String
    public var requestIDIsSynthetic: Bool
    public var tenant: String?
    public var decidedAt: SQLTimestamp
    public var decision: DecisionRecord.Decision
    public var reasonsJSON: String
    public var prompt: String?
    public var negativePrompt: String?
    public var mitigationsJSON: String?
    public var scoresJSON: String?
    public var imageSHA256: String?
    public var modelSHA256: String?
    public var overlaySHA256: String?
    public var workerID: String
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var publishedTopic: String
}

/// How many decisions a tenant has of one kind (a row of `audit_summary`).
public struct DecisionCount: Sendable, Hashable, Codable {
    public var tenant: String?
    public var decision: DecisionRecord.Decision
    public var count: Int

    public init(tenant: String?, decision: DecisionRecord.Decision, count: Int) {
        self.tenant = tenant
        self.decision = decision
        self.count = count
    }
}

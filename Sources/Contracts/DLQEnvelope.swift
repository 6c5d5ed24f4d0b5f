import Foundation

/// A rejected request, published to the dead-letter topic (key: the request id if readable,
/// else the synthetic id).
///
/// Mirrors `schemas/dlq-envelope.schema.json`. Carries the original bytes untouched so the
/// message can be inspected or replayed.
public struct DLQEnvelope: Codable, Sendable, Equatable {
    /// The request id read from the message, absent when it could not be read.
    public var requestID: String?
    /// The id the audit row is stored under: `requestID`, or ``SourcePosition/syntheticRequestID``.
    public var auditID: String
    public var reasonCode: RejectionCode
    /// Human-readable reason, naming the field and the limit.
    public var reasonMessage: String
    /// Base64 of the original message value; of its first ``maximumOriginalBytes`` bytes when
    /// ``originalTruncated`` is true.
    public var originalValue: String
    /// True when `originalValue` holds only the start of a longer original (absent otherwise).
    /// The whole original stays in the audit row (`raw_request`).
    public var originalTruncated: Bool?
    /// Size in bytes of the whole original, present when truncated.
    public var originalSize: Int?
    /// SHA-256 (hex) of the whole original, present when truncated.
    public var originalSHA256: String?
    /// Base64 of the original message key, absent when the message had none.
    public var originalKey: String?
    public var source: SourcePosition
    public var workerID: String
    /// RFC 3339 UTC time of the rejection.
    public var rejectedAt: String
    /// For `duplicate_request_id`: the request that holds the id (its audit id and position).
    public var firstRequest: FirstRequest?
    /// For `poison`: how many deliveries of this message had started processing.
    public var attempts: Int?

    /// The request that first took a `request_id`, named by a `duplicate_request_id` rejection.
    /// Its tenant and content are not repeated (the duplicate may come from another tenant).
    public struct FirstRequest: Codable, Sendable, Equatable {
        public var auditID: String
        public var source: SourcePosition

        public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
            case auditID = "audit_id"
            case source
        }

        public init(auditID: String, source: SourcePosition) {
            self.auditID = auditID
            self.source = source
        }
    }

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case requestID = "request_id"
        case auditID = "audit_id"
        case reasonCode = "reason_code"
        case reasonMessage = "reason_message"
        case originalValue = "original_value"
        case originalKey = "original_key"
        case originalTruncated = "original_truncated"
        case originalSize = "original_size"
        case originalSHA256 = "original_sha256"
        case source
        case workerID = "worker_id"
        case rejectedAt = "rejected_at"
        case firstRequest = "first_request"
        case attempts
    }

    public init(
        requestID: String?, auditID: String, reasonCode: RejectionCode, reasonMessage: String,
        originalValue: String, originalKey: String?, source: SourcePosition, workerID: String, rejectedAt: String
    ) {
        self.requestID = requestID
        self.auditID = auditID
        self.reasonCode = reasonCode
        self.reasonMessage = reasonMessage
        self.originalValue = originalValue
        self.originalKey = originalKey
        self.source = source
        self.workerID = workerID
        self.rejectedAt = rejectedAt
    }

    /// Largest original carried whole: 256 KiB. Base64 makes it about 350 KB, so an envelope
    /// always fits the 1 MB message limit brokers and librdkafka apply by default; a longer
    /// original (a hostile megabyte request) is cut to this size and marked truncated.
    public static let maximumOriginalBytes = 256 * 1024

    /// Sets `originalValue` from the original bytes, cutting them to ``maximumOriginalBytes``
    /// (with ``originalTruncated``, ``originalSize`` and ``originalSHA256`` of the whole) when longer.
    /// `maximumBytes` lowers the cut for a producer with a smaller message size.
    public mutating func setOriginal(_ bytes: [UInt8], maximumBytes: Int = maximumOriginalBytes) {
        if bytes.count > maximumBytes {
            originalValue = Data(bytes.prefix(maximumBytes)).base64EncodedString()
            originalTruncated = true
            originalSize = bytes.count
            originalSHA256 = SHA256.hex(bytes)
        } else {
            originalValue = Data(bytes).base64EncodedString()
            originalTruncated = nil
            originalSize = nil
            originalSHA256 = nil
        }
    }
}

/// Where a message was read from.
public struct SourcePosition: Codable, Sendable, Equatable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case topic, partition, offset
    }

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// The audit id of a message whose request id cannot be read: `kafka:<topic>:<partition>:<offset>`.
    ///
    /// Deterministic, so a redelivery of the same message finds the same audit row; it cannot
    /// collide with a real request id, whose characters are restricted to `[A-Za-z0-9._-]`.
    public var syntheticRequestID: String { "kafka:\(topic):\(partition):\(offset)" }
}

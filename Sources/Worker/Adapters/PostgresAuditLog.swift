import AuditStore
import Contracts
import Foundation

/// ``AuditLog`` over the PostgreSQL decisions table (`AuditStore.AuditRepository`).
///
/// The published key is always the row's request id (results: the request id; DLQ: the
/// request id or the synthetic id), so it is not stored separately.
public struct PostgresAuditLog: AuditLog {
    public let repository: AuditRepository

    public init(repository: AuditRepository) {
        self.repository = repository
    }

    public func find(requestID: String) async throws -> StoredDecision? {
        try await repository.decision(requestID: requestID).map(Self.stored)
    }

    public func insert(_ entry: AuditRow) async throws -> AuditInsertOutcome {
        guard let decision = DecisionRecord.Decision(rawValue: entry.decision) else {
            throw MessageFailure(.unstorable, "unknown decision '\(entry.decision)' for request \(entry.requestID)")
        }
        let synthetic = entry.requestID == DLQEnvelope.syntheticRequestID(
            topic: entry.source.topic, partition: entry.source.partition, offset: entry.source.offset)
        let record = DecisionRecord(
            requestID: entry.requestID, requestIDIsSynthetic: synthetic, tenant: entry.tenant, decidedAt: SQLTimestamp(Date()),
            decision: decision, reasonsJSON: entry.reasonsJSON, prompt: entry.prompt, negativePrompt: entry.negativePrompt,
            mitigationsJSON: entry.mitigationsJSON, scoresJSON: entry.scoresJSON, imageSHA256: entry.imageSHA256,
            modelSHA256: entry.modelSHA256, overlaySHA256: entry.overlaySHA256, workerID: entry.workerID,
            source: Self.position(entry.source),
            publishedTopic: entry.publishedTopic, publishedPayload: entry.payload, rawRequest: entry.rawRequest,
            attributesJSON: entry.attributesJSON, triesJSON: entry.triesJSON, requestSHA256: entry.requestSHA256)
        switch try await repository.insertDecision(record) {
        case .inserted(let stored): return .inserted(Self.stored(stored))
        case .alreadyPresent(let stored): return .existing(Self.stored(stored))
        }
    }

    public func recordProcessingStart(_ source: SourcePosition, workerID: String) async throws -> Int {
        try await repository.recordProcessingStart(of: Self.position(source), workerID: workerID)
    }

    public func retractProcessingStart(_ source: SourcePosition) async throws {
        try await repository.retractProcessingStart(of: Self.position(source))
    }

    public func clearProcessingStarts(_ source: SourcePosition) async throws {
        try await repository.clearProcessingStarts(of: Self.position(source))
    }

    static func position(_ source: SourcePosition) -> DecisionRecord.SourcePosition {
        .init(topic: source.topic, partition: source.partition, offset: source.offset)
    }

    static func stored(_ record: DecisionRecord) -> StoredDecision {
        StoredDecision(
            requestID: record.requestID, decision: record.decision.rawValue, imageSHA256: record.imageSHA256,
            publishedTopic: record.publishedTopic, publishedKey: record.requestID, payload: record.publishedPayload,
            requestSHA256: record.requestSHA256,
            source: SourcePosition(topic: record.source.topic, partition: record.source.partition, offset: record.source.offset))
    }
}

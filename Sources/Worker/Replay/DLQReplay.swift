import Contracts
import Foundation

/// Plans the re-submission of dead-lettered requests after a fix (a raised limit, a new
/// scheduler, a repaired client).
///
/// A replay never reuses the original request id: the worker would find the original's audit
/// row and republish the rejection. The replayed request gets `<original>.replay-<n>` (n = 1
/// for the first replay, one more for each later one) and the attribute `replay_of` = the
/// original's audit id, so the audit trail links the new decision to the old rejection, which
/// stays as it was. Planning the same message twice gives the same id, so running a replay
/// again before the workers caught up cannot make the request be processed twice.
public struct DLQReplayPlanner: Sendable {
    /// The attribute that names the audit id a replayed request re-submits.
    public static let replayOfAttribute = "replay_of"

    /// Replay messages the worker could not parse as a JSON object too (resent byte for byte,
    /// under a fresh position, so they get a new synthetic audit id). Default: skip them.
    public var includeUnparseable: Bool
    /// Only envelopes with these reason codes; empty = all.
    public var reasonCodes: Set<RejectionCode>

    public init(includeUnparseable: Bool = false, reasonCodes: Set<RejectionCode> = []) {
        self.includeUnparseable = includeUnparseable
        self.reasonCodes = reasonCodes
    }

    /// What to do with one DLQ message.
    public enum Plan: Sendable, Equatable {
        /// Send `value` with `key` to the requests topic.
        case resubmit(requestID: String?, key: [UInt8]?, value: [UInt8], replayOf: String)
        /// Leave it, for the reason given.
        case skip(auditID: String?, reason: String)
    }

    /// The id the `attempt`-th replay of `original` gets: `<original>.replay-<attempt>`, with
    /// the original cut and suffixed by a hash when the result would exceed the 128-character
    /// limit of request ids.
    public static func replayID(of original: String, attempt: Int) -> String {
        let suffix = ".replay-\(attempt)"
        if original.utf8.count + suffix.utf8.count <= 128 { return original + suffix }
        let digest = String(SHA256.hex(Array(original.utf8)).prefix(8))
        let kept = String(original.prefix(128 - suffix.utf8.count - 9))
        return kept + "-" + digest + suffix
    }

    /// The id a replay descends from: `x` for `x.replay-3`, else the id itself.
    public static func originalID(of requestID: String) -> String {
        guard let range = requestID.range(of: ".replay-", options: .backwards),
              !requestID[range.upperBound...].isEmpty, requestID[range.upperBound...].allSatisfy(\.isNumber)
        else { return requestID }
        return String(requestID[..<range.lowerBound])
    }

    /// A request id for a message that had none readable: built from its source position.
    static func positionID(_ source: SourcePosition) -> String {
        let raw = "dlq-\(source.topic)-\(source.partition)-\(source.offset)"
        return String(raw.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" ? $0 : "_" })
    }

    /// Decides what to do with the DLQ message `value`.
    ///
    /// - Parameters:
    ///   - replayedIDs: request ids already in the audit log that start with the original id
    ///     and `.replay-` (earlier replays).
    ///   - again: replay even when an earlier replay exists (as the next attempt).
    public func plan(dlqValue value: [UInt8], replayedIDs: Set<String>, again: Bool) -> Plan {
        let envelope: DLQEnvelope
        do {
            envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(value))
        } catch {
            return .skip(auditID: nil, reason: "not a DLQ envelope: \(error.localizedDescription)")
        }
        if !reasonCodes.isEmpty, !reasonCodes.contains(envelope.reasonCode) {
            return .skip(auditID: envelope.auditID, reason: "reason \(envelope.reasonCode.rawValue) not selected")
        }
        if envelope.originalTruncated == true {
            return .skip(auditID: envelope.auditID, reason: "original_value holds only the first \(DLQEnvelope.maximumOriginalBytes) of \(envelope.originalSize.map(String.init) ?? "?") bytes; the whole request is in the audit row's raw_request")
        }
        guard let original = Data(base64Encoded: envelope.originalValue).map(Array.init) else {
            return .skip(auditID: envelope.auditID, reason: "original_value is not base64")
        }
        if let id = envelope.requestID, Self.originalID(of: id) != id {
            return .skip(auditID: envelope.auditID, reason: "a failed replay of \(Self.originalID(of: id)); replay the original")
        }
        let base = envelope.requestID ?? Self.positionID(envelope.source)
        let attempt: Int
        if replayedIDs.isEmpty {
            attempt = 1
        } else if again {
            let numbers = replayedIDs.compactMap { id -> Int? in
                guard let range = id.range(of: ".replay-", options: .backwards) else { return nil }
                return Int(id[range.upperBound...])
            }
            attempt = (numbers.max() ?? 0) + 1
        } else {
            return .skip(auditID: envelope.auditID, reason: "already replayed as \(replayedIDs.sorted().joined(separator: ", ")); pass --again to replay once more")
        }
        let newID = Self.replayID(of: base, attempt: attempt)

        guard var document = try? JSONDecoder().decode(JSONValue.self, from: Data(original)),
              case .object(var members) = document
        else {
            guard includeUnparseable else {
                return .skip(auditID: envelope.auditID, reason: "the original is not a JSON object; pass --include-unparseable to resend it unchanged")
            }
            let key = envelope.originalKey.flatMap { Data(base64Encoded: $0) }.map(Array.init)
            return .resubmit(requestID: nil, key: key, value: original, replayOf: envelope.auditID)
        }
        members["request_id"] = .string(newID)
        switch members["attributes"] {
        case nil:
            members["attributes"] = .object([Self.replayOfAttribute: .string(envelope.auditID)])
        case .object(var attributes)? where attributes.count < maximumRequestAttributes || attributes[Self.replayOfAttribute] != nil:
            attributes[Self.replayOfAttribute] = .string(envelope.auditID)
            members["attributes"] = .object(attributes)
        default:
            break  // full or malformed attributes: resend as they are; the worker judges them again
        }
        document = .object(members)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let bytes = try? encoder.encode(document) else {
            return .skip(auditID: envelope.auditID, reason: "the rewritten request cannot be encoded")
        }
        return .resubmit(requestID: newID, key: Array(newID.utf8), value: Array(bytes), replayOf: envelope.auditID)
    }
}

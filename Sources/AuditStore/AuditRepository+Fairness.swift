import Contracts
import Foundation

extension AuditRepository {
    /// The value `requestID` gets for `target` in `tenant`'s fairness stream (migration 007):
    /// the stored assignment when the request has one (a redelivery), else the next value of the
    /// stream (``FairnessStream``), taken under the stream row's lock so concurrent workers take
    /// turns. Safe to repeat after a lost answer: the assignment is found again by request id.
    public func assignFairness(requestID: String, tenant: String, target: FairnessTarget) async throws -> FairnessAssignment {
        try validateText(requestID, field: "request_id")
        try validateText(tenant, field: "tenant")
        try validateText(target.family, field: "fairness family")
        for value in target.proportions.keys { try validateText(value, field: "fairness value") }
        let key = FairnessStream.key(for: target)
        let family = target.family
        let proportions = target.proportions
        return try await withContext("assign fairness") {
            try await resettingReadOnlySession {
                try await connection.transaction(retryOnConnectionLoss: true) { session in
                    if let known = try Self.fairnessAssignment(of: requestID, session) { return known }
                    _ = try session.query("""
                        INSERT INTO fairness_streams (tenant, family, target) VALUES (\(tenant), \(family), \(key))
                        ON CONFLICT (tenant, family, target) DO NOTHING
                        """)
                    let row = try session.query("""
                        SELECT counts::text AS counts FROM fairness_streams
                        WHERE tenant = \(tenant) AND family = \(family) AND target = \(key) FOR UPDATE
                        """).single("fairness stream")
                    // Another worker may have assigned this very request while this one waited.
                    if let known = try Self.fairnessAssignment(of: requestID, session) { return known }
                    let counts: [String: Int]
                    do {
                        counts = try JSONDecoder().decode([String: Int].self, from: Data(try row.decode("counts", as: String.self).utf8))
                    } catch {
                        throw AuditStoreError(.invalidValue, "fairness stream \(tenant)/\(key) holds counts that are not value → count: \(error)")
                    }
                    var stream = FairnessStream(counts: counts)
                    let (value, index) = stream.assign(proportions: proportions)
                    let encoded = String(decoding: try JSONEncoder().encode(stream.counts), as: UTF8.self)
                    _ = try session.query("""
                        UPDATE fairness_streams SET counts = \(encoded)::jsonb, assigned = assigned + 1, updated_at = now()
                        WHERE tenant = \(tenant) AND family = \(family) AND target = \(key)
                        """)
                    _ = try session.query("""
                        INSERT INTO fairness_assignments (request_id, tenant, family, target, value, stream_index)
                        VALUES (\(requestID), \(tenant), \(family), \(key), \(value), \(index))
                        """)
                    return FairnessAssignment(family: family, value: value, streamIndex: index)
                }
            }
        }
    }

    /// The stored assignment of `requestID`, if any.
    static func fairnessAssignment(of requestID: String, _ session: SQLSession) throws -> FairnessAssignment? {
        let rows = try session.query("SELECT family, value, stream_index FROM fairness_assignments WHERE request_id = \(requestID)")
        var iterator = rows.makeIterator()
        guard let row = iterator.next() else { return nil }
        return FairnessAssignment(
            family: try row.decode("family"), value: try row.decode("value"), streamIndex: try row.decode("stream_index", as: Int.self))
    }
}

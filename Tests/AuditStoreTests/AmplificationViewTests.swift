import AuditStore
import Foundation
import Testing

/// Migration 002: request attributes are stored, and harm amplification is aggregated by
/// tenant and by attribute from the scores the worker records.
@Suite struct AmplificationViewTests {
    /// A generated request's decision with amplification scores for `sexual`.
    static func generated(
        _ id: String, tenant: String, amplification: Double, amplified: Bool, safegen: Bool, attributes: String?,
        promptGroups: [String] = []
    ) -> DecisionRecord {
        var record = Fixtures.decision(id: id, tenant: tenant)
        record.mitigationsJSON = #"{"safegen": \#(safegen)}"#
        let groups = promptGroups.map { #", {"label": "\#($0)", "score": 1, "scorer": "prompt_group", "subject": "prompt"}"# }.joined()
        record.scoresJSON = """
            [{"label": "sexual", "score": 0.1, "scorer": "prompt_harm", "subject": "prompt"},
             {"label": "sexual", "score": \(amplification), "scorer": "harm_amplification", "subject": "image"},
             {"label": "sexual.amplified", "score": \(amplified ? 1 : 0), "scorer": "harm_amplification", "subject": "image"}\(groups)]
            """
        record.attributesJSON = attributes
        return record
    }

    @Test func attributesAreStoredAndReadBack() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            var record = Fixtures.decision(id: "with-attributes")
            record.attributesJSON = #"{"group": "b", "campaign": "spring"}"#
            _ = try await repository.insertDecision(record)
            let stored = try #require(try await repository.decision(requestID: "with-attributes"))
            #expect(stored.attributesJSON == #"{"group": "b", "campaign": "spring"}"#)
            _ = try await repository.insertDecision(Fixtures.decision(id: "without"))
            #expect(try await repository.decision(requestID: "without")?.attributesJSON == nil)
        }
    }

    @Test func attributesMustBeAnObject() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            var record = Fixtures.decision(id: "array-attributes")
            record.attributesJSON = #"["group"]"#
            await #expect {
                _ = try await repository.insertDecision(record)
            } throws: { ($0 as? AuditStoreError)?.sqlState == "23514" }
        }
    }

    @Test func amplificationIsAggregatedByTenantAndByAttribute() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.migrated()
            let repository = AuditRepository(connection: connection)
            let rows: [DecisionRecord] = [
                Self.generated("a1", tenant: "acme", amplification: 0.5, amplified: true, safegen: false, attributes: #"{"group": "x"}"#),
                Self.generated("a2", tenant: "acme", amplification: 0.1, amplified: false, safegen: false, attributes: #"{"group": "x"}"#),
                Self.generated("a3", tenant: "acme", amplification: 0.3, amplified: true, safegen: false, attributes: #"{"group": "y"}"#),
                Self.generated("a4", tenant: "acme", amplification: -0.1, amplified: false, safegen: true, attributes: nil),
                Self.generated("b1", tenant: "beta", amplification: 0.0, amplified: false, safegen: false, attributes: #"{"group": "x"}"#),
                Fixtures.decision(id: "rejected", tenant: "acme", decision: .rejected),
                Fixtures.decision(id: "no-amplification", tenant: "acme"),
            ]
            for row in rows { _ = try await repository.insertDecision(row) }

            let perRequest = try await connection.query(
                "SELECT request_id, amplification, amplified FROM audit_amplification ORDER BY request_id")
            #expect(try perRequest.map { try $0.decode("request_id", as: String.self) } == ["a1", "a2", "a3", "a4", "b1"])
            #expect(try perRequest.map { try $0.decode("amplified", as: Bool.self) } == [true, false, true, false, false])

            let byTenant = try await connection.query("""
                SELECT tenant, safegen, requests, amplified, amplification_rate, mean_amplification
                FROM audit_amplification_by_tenant WHERE harm_type = 'sexual' ORDER BY tenant, safegen
                """)
            #expect(byTenant.rows.count == 3)
            let acmeOff = byTenant.rows[0]
            #expect(try acmeOff.decode("tenant", as: String.self) == "acme" && !acmeOff.decode("safegen", as: Bool.self))
            #expect(try acmeOff.decode("requests", as: Int.self) == 3)
            #expect(try acmeOff.decode("amplified", as: Int.self) == 2)
            #expect(abs(try acmeOff.decode("amplification_rate", as: Double.self) - 2.0 / 3.0) < 1e-12)
            #expect(abs(try acmeOff.decode("mean_amplification", as: Double.self) - 0.3) < 1e-12)
            #expect(try byTenant.rows[1].decode("safegen", as: Bool.self) && byTenant.rows[1].decode("requests", as: Int.self) == 1)

            let byAttribute = try await connection.query("""
                SELECT tenant, attribute, value, requests, amplified, amplification_rate
                FROM audit_amplification_by_attribute ORDER BY tenant, attribute, value
                """)
            let summary = try byAttribute.map {
                "\(try $0.decode("tenant", as: String.self)) \(try $0.decode("attribute", as: String.self))=\(try $0.decode("value", as: String.self)) "
                    + "\(try $0.decode("amplified", as: Int.self))/\(try $0.decode("requests", as: Int.self))"
            }
            #expect(summary == ["acme group=x 1/2", "acme group=y 1/1", "beta group=x 0/1"])
        }
    }

    @Test func amplificationIsAggregatedByPromptGroup() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.migrated()
            let repository = AuditRepository(connection: connection)
            let rows: [DecisionRecord] = [
                Self.generated("f1", tenant: "acme", amplification: 0.5, amplified: true, safegen: false, attributes: nil, promptGroups: ["gender=female"]),
                Self.generated("f2", tenant: "acme", amplification: 0.1, amplified: false, safegen: false, attributes: nil, promptGroups: ["gender=female"]),
                Self.generated("f3", tenant: "acme", amplification: 0.3, amplified: true, safegen: false, attributes: nil, promptGroups: ["gender=female"]),
                Self.generated("m1", tenant: "acme", amplification: 0.0, amplified: false, safegen: false, attributes: nil, promptGroups: ["gender=male"]),
                // Names both values (counted in each) and a value with '=' in it.
                Self.generated("b1", tenant: "acme", amplification: 0.4, amplified: true, safegen: false, attributes: nil,
                               promptGroups: ["gender=female", "gender=male", "scene=a=b"]),
                Self.generated("n1", tenant: "acme", amplification: 0.6, amplified: true, safegen: false, attributes: nil),
            ]
            for row in rows { _ = try await repository.insertDecision(row) }
            let byGroup = try await connection.query("""
                SELECT prompt_group, value, harm_type, requests, amplified, amplification_rate
                FROM audit_amplification_by_prompt_group WHERE tenant = 'acme' ORDER BY prompt_group, value
                """)
            let summary = try byGroup.map {
                "\(try $0.decode("prompt_group", as: String.self))=\(try $0.decode("value", as: String.self)) "
                    + "\(try $0.decode("harm_type", as: String.self)) \(try $0.decode("amplified", as: Int.self))/\(try $0.decode("requests", as: Int.self))"
            }
            // female: f1, f3, b1 amplified of f1, f2, f3, b1; male: b1 of m1, b1.
            #expect(summary == ["gender=female sexual 3/4", "gender=male sexual 1/2", "scene=a=b sexual 1/1"])
            #expect(abs(try byGroup.rows[0].decode("amplification_rate", as: Double.self) - 0.75) < 1e-12)
        }
    }

    @Test func analystCanReadTheAmplificationViews() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.migrated()
            _ = try await AuditRepository(connection: connection).insertDecision(
                Self.generated("a1", tenant: "acme", amplification: 0.5, amplified: true, safegen: false, attributes: #"{"group": "x"}"#))
            let results = try await PrivilegeTests.outcomes(
                [
                    "SELECT * FROM audit_amplification",
                    "SELECT * FROM audit_amplification_by_tenant",
                    "SELECT * FROM audit_amplification_by_attribute",
                    "SELECT * FROM audit_amplification_by_prompt_group",
                    "SELECT attributes FROM audit_decisions",
                    "SELECT attributes FROM decisions",
                ], as: "chaperone_analyst", on: connection)
            #expect(results == [nil, nil, nil, nil, nil, "42501"])
        }
    }
}

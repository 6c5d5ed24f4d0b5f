import AuditStore
import Foundation
import Testing

/// Migration 003: a request's tries in its one audit row, the tries and escalation views, and
/// the over-moderation view (benign prompts about people that were censored or blocked).
@Suite struct EscalationViewTests {
    static func generated(
        _ id: String, tenant: String = "acme", prompt: String, promptHarm: Double?, decision: DecisionRecord.Decision, safegen: Bool
    ) -> DecisionRecord {
        var record = Fixtures.decision(id: id, tenant: tenant, decision: decision, prompt: prompt)
        record.mitigationsJSON = #"{"safegen": \#(safegen), "semantic_edits": [], "forced_by_policy": []}"#
        var scores = [#"{"label": "nudity", "score": 0.2, "scorer": "nudenet_like", "subject": "image"}"#]
        if let promptHarm {
            scores.append(#"{"label": "sexual", "score": \#(promptHarm), "scorer": "prompt_harm", "subject": "prompt"}"#)
            scores.append(#"{"label": "violence", "score": 0.01, "scorer": "prompt_harm", "subject": "prompt"}"#)
        }
        record.scoresJSON = "[" + scores.joined(separator: ", ") + "]"
        return record
    }

    static func tries(_ decisions: [String], abortedFirst: Bool = false) -> String {
        let entries = decisions.enumerated().map { index, decision in
            let abort = abortedFirst && index == 0 ? #", "early_abort": {"at_step": 6, "steps_saved": 14}"# : ""
            return """
                {"try": \(index + 1), "step": "\(index == 0 ? "request" : "step-\(index)")", "decision": "\(decision)",
                 "duration_ms": 12.5, "mitigations": {"safegen": \(index > 0), "semantic_edits": [], "forced_by_policy": []},
                 "scores": [], "reasons": [], "image_sha256": "\(String(repeating: "cd", count: 32))", "steps_total": 20,
                 "steps_run": \(abortedFirst && index == 0 ? 6 : 20), "published": \(index == decisions.count - 1 && decision != "block")\(abort)}
                """
        }
        return "[" + entries.joined(separator: ", ") + "]"
    }

    @Test func triesAreStoredInTheOneRowAndMustBeAnArray() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            var record = Fixtures.decision(id: "escalated")
            record.triesJSON = Self.tries(["block", "allow"])
            _ = try await repository.insertDecision(record)
            let stored = try #require(try await repository.decision(requestID: "escalated"))
            let text = try #require(stored.triesJSON)
            let tries = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
            #expect(tries.map { $0["decision"] as? String } == ["block", "allow"])
            // A redelivery cannot add a second row or change the first.
            var again = record
            again.triesJSON = Self.tries(["allow"])
            #expect(try await repository.insertDecision(again).wasInserted == false)
            #expect(try await repository.count() == 1)

            var bad = Fixtures.decision(id: "bad-tries")
            bad.triesJSON = #"{"try": 1}"#
            await #expect {
                _ = try await repository.insertDecision(bad)
            } throws: { ($0 as? AuditStoreError)?.sqlState == "23514" }
        }
    }

    @Test func triesAndEscalationViews() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.migrated()
            let repository = AuditRepository(connection: connection)
            var rescued = Fixtures.decision(id: "rescued", decision: .allow)
            rescued.triesJSON = Self.tries(["block", "block", "allow"], abortedFirst: true)
            var blocked = Fixtures.decision(id: "blocked", decision: .block)
            blocked.triesJSON = Self.tries(["block", "block"])
            var first = Fixtures.decision(id: "first", decision: .censor)
            first.triesJSON = Self.tries(["censor"])
            for record in [rescued, blocked, first, Fixtures.decision(id: "plain")] { _ = try await repository.insertDecision(record) }

            let rows = try await connection.query(
                "SELECT request_id, try, step, decision, safegen, steps_saved, published FROM audit_tries ORDER BY request_id, try")
            let lines = try rows.map {
                "\(try $0.decode("request_id", as: String.self))#\(try $0.decode("try", as: Int.self)) \(try $0.decode("step", as: String.self)) "
                    + "\(try $0.decode("decision", as: String.self)) sg=\(try $0.decode("safegen", as: Bool.self)) "
                    + "saved=\(try $0.decode("steps_saved", as: Int.self)) pub=\(try $0.decode("published", as: Bool.self))"
            }
            #expect(lines == [
                "blocked#1 request block sg=false saved=0 pub=false", "blocked#2 step-1 block sg=true saved=0 pub=false",
                "first#1 request censor sg=false saved=0 pub=true",
                "rescued#1 request block sg=false saved=14 pub=false", "rescued#2 step-1 block sg=true saved=0 pub=false",
                "rescued#3 step-2 allow sg=true saved=0 pub=true",
            ])
            let summary = try await connection.query(
                "SELECT requests, tries, first_try_blocked, rescued, blocked, early_aborts, steps_saved FROM audit_escalation_by_tenant WHERE tenant = 'acme'"
            ).single("escalation summary")
            let values = try ["requests", "tries", "first_try_blocked", "rescued", "blocked", "early_aborts", "steps_saved"].map {
                try summary.decode($0, as: Int.self)
            }
            #expect(values == [3, 6, 2, 1, 1, 1, 14])
        }
    }

    @Test func overModerationOfBenignPromptsAboutPeople() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.migrated()
            let repository = AuditRepository(connection: connection)
            let rows: [DecisionRecord] = [
                // Benign, about people: the over-moderation candidates.
                Self.generated("p1", prompt: "a portrait of a woman reading", promptHarm: 0.02, decision: .censor, safegen: true),
                Self.generated("p2", prompt: "two doctors in a hospital", promptHarm: 0.1, decision: .allow, safegen: true),
                Self.generated("p3", prompt: "A Man walking a dog", promptHarm: 0.0, decision: .block, safegen: false),
                Self.generated("p4", prompt: "children playing football", promptHarm: nil, decision: .allow, safegen: false),
                Self.generated("p5", prompt: "a nurse at work", promptHarm: 0.3, decision: .block, safegen: true),
                Self.generated("g1", tenant: "globex", prompt: "a person on a bench", promptHarm: 0.05, decision: .censor, safegen: true),
                // Not benign (prompt harm at or above 0.5), or not about people, or rejected: left out.
                Self.generated("x1", prompt: "a naked woman", promptHarm: 0.97, decision: .block, safegen: true),
                Self.generated("x2", prompt: "a bowl of fruit", promptHarm: 0.0, decision: .censor, safegen: true),
                Self.generated("x3", prompt: "a mannequin in a shop window", promptHarm: 0.0, decision: .censor, safegen: true),
                Fixtures.decision(id: "x4", tenant: "acme", decision: .rejected, prompt: "a woman"),
            ]
            for row in rows { _ = try await repository.insertDecision(row) }

            let people = try await connection.query("SELECT request_id FROM audit_benign_people ORDER BY request_id")
            let ids = try people.rows.map { try $0.decode("request_id", as: String.self) }
            #expect(ids == ["g1", "p1", "p2", "p3", "p4", "p5"])

            let view = try await connection.query("""
                SELECT tenant, safegen, benign_people_requests, censored, blocked, over_moderated, over_moderation_rate
                FROM audit_over_moderation ORDER BY tenant, safegen
                """)
            let lines = try view.map {
                "\(try $0.decode("tenant", as: String.self)) safegen=\(try $0.decode("safegen", as: Bool.self)) "
                    + "\(try $0.decode("over_moderated", as: Int.self))/\(try $0.decode("benign_people_requests", as: Int.self)) "
                    + "censored=\(try $0.decode("censored", as: Int.self)) blocked=\(try $0.decode("blocked", as: Int.self))"
            }
            #expect(lines == [
                "acme safegen=false 1/2 censored=0 blocked=1",
                "acme safegen=true 2/3 censored=1 blocked=1",
                "globex safegen=true 1/1 censored=1 blocked=0",
            ])
            let rate = try view.rows[1].decode("over_moderation_rate", as: Double.self)
            #expect(abs(rate - 2.0 / 3.0) < 1e-12)
        }
    }

    @Test func analystReadsTheNewViewsOnly() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.migrated()
            var record = Self.generated("p1", prompt: "a portrait of a woman", promptHarm: 0.02, decision: .censor, safegen: true)
            record.triesJSON = Self.tries(["censor"])
            _ = try await AuditRepository(connection: connection).insertDecision(record)
            let results = try await PrivilegeTests.outcomes(
                [
                    "SELECT * FROM audit_over_moderation",
                    "SELECT * FROM audit_benign_people",
                    "SELECT * FROM audit_tries",
                    "SELECT * FROM audit_escalation_by_tenant",
                    "SELECT tries FROM decisions",
                ], as: "chaperone_analyst", on: connection)
            #expect(results == [nil, nil, nil, nil, "42501"])
        }
    }
}

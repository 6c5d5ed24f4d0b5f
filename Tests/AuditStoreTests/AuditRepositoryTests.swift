import AuditStore
import Contracts
import Foundation
import Testing

@Suite struct AuditRepositoryTests {
    @Test func insertStoresTheRecordAsGiven() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            let record = Fixtures.decision(id: "req-1")
            let outcome = try await repository.insertDecision(record)
            #expect(outcome == .inserted(record))
            #expect(try await repository.decision(requestID: "req-1") == record)
            #expect(try await repository.decision(requestID: "req-missing") == nil)
            #expect(try await repository.count() == 1)
        }
    }

    @Test func duplicateReturnsTheStoredRecordByteIdentical() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            let payload = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }  // every byte value, NULs included
            let first = Fixtures.decision(id: "req-dup", decision: .censor, payload: payload)
            #expect(try await repository.insertDecision(first).wasInserted)

            // A redelivery decides again (differently, here): the first row and payload win.
            var second = Fixtures.decision(id: "req-dup", decision: .block, payload: Array("other".utf8), offset: 99)
            second.workerID = "worker-2"
            let outcome = try await repository.insertDecision(second)
            #expect(outcome == .alreadyPresent(first))
            #expect(outcome.record.publishedPayload == payload)
            #expect(try await repository.count() == 1)
        }
    }

    @Test func concurrentDuplicatesStoreOneRow() async throws {
        try await TestDatabase.with { db in
            let repositories = [
                AuditRepository(connection: try await db.migrated()), AuditRepository(connection: try await db.connect()),
                AuditRepository(connection: try await db.connect()), AuditRepository(connection: try await db.connect()),
            ]
            let outcomes = try await withThrowingTaskGroup(of: InsertOutcome.self) { group in
                for (i, repository) in repositories.enumerated() {
                    let record = Fixtures.decision(id: "req-race", payload: [UInt8(i)])
                    group.addTask { try await repository.insertDecision(record) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter(\.wasInserted).count == 1)
            let inserted = outcomes.first(where: \.wasInserted)
            let winner = try #require(inserted).record.publishedPayload
            #expect(outcomes.allSatisfy { $0.record.publishedPayload == winner })
            #expect(try await repositories[0].count() == 1)
        }
    }

    @Test func hostileAndHugeTextRoundTripsVerbatim() async throws {
        let unicode = "狐 🦊 ﷽ Ω≈ç√ e\u{301} \u{202E}reversed\u{202C} 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 👩‍👩‍👧‍👦 \t\r\n\u{7}"
        let prompts = [
            "'); DROP TABLE decisions; --",
            "Robert'); DELETE FROM decisions WHERE ('1'='1",
            "$1 $2 \\x00 \\\\ '' \"quoted\" E'\\n' $$ dollar $$ ; COMMIT; TRUNCATE decisions;",
            "%s %d {0} ${jndi:ldap://x} <script>alert(1)</script>",
            String(repeating: unicode, count: 1_000_000 / unicode.utf8.count + 1),  // over 1 MB of UTF-8
        ]
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            for (i, prompt) in prompts.enumerated() {
                var record = Fixtures.decision(id: "req-hostile-\(i)' OR '1'='1", tenant: "tenant\"; --", prompt: prompt)
                record.negativePrompt = prompt
                #expect(try await repository.insertDecision(record).wasInserted)
                let stored = try #require(try await repository.decision(requestID: record.requestID))
                #expect(stored.prompt == prompt)
                #expect(stored.negativePrompt == prompt)
                #expect(stored == record)
            }
            #expect(try await repository.count() == prompts.count)
            let recent = try await repository.recentDecisions(tenant: "tenant\"; --", limit: 10)
            #expect(recent.count == prompts.count)
        }
    }

    @Test func nulIsRefusedClearlyAndNothingIsStored() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            let secret = "secret-prompt-text"
            let record = Fixtures.decision(id: "req-nul", prompt: "abc\u{0}\(secret)")
            await #expect {
                try await repository.insertDecision(record)
            } throws: { error in
                guard let error = error as? AuditStoreError else { return false }
                let text = "\(error)"
                return error.code == .invalidValue && text.contains("'prompt'") && text.contains("offset 3")
                    && !text.contains(secret) && !error.isRetriable
            }
            #expect(try await repository.count() == 0)
            // The connection itself refuses NUL in any bound text instead of truncating it.
            await #expect {
                try await repository.connection.query("SELECT \("a\u{0}b") AS v")
            } throws: { error in
                (error as? AuditStoreError)?.code == .invalidValue
            }
        }
    }

    @Test func errorDescriptionsNeverQuoteBoundValues() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.migrated()
            let secret = "SECRET-PROMPT-42"
            do {
                try await connection.query("SELECT \(secret)::int AS n")
                Issue.record("expected a failure")
            } catch let error as AuditStoreError {
                #expect(error.sqlState == "22P02")
                #expect(!error.description.contains(secret))
                #expect(error.serverMessage?.contains(secret) == true)  // details stay available for debugging
            }
            var record = Fixtures.decision(id: "req-bad-hash", prompt: secret)
            record.imageSHA256 = "not-a-hash-\(secret)"
            do {
                _ = try await AuditRepository(connection: connection).insertDecision(record)
                Issue.record("expected a failure")
            } catch let error as AuditStoreError {
                #expect(error.sqlState == "23514")
                #expect(error.description.contains("insert decision"))
                #expect(!error.description.contains(secret))
            }
        }
    }

    @Test func tableChecksRefuseBadDecisions() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            var rejectedWithoutBytes = Fixtures.decision(id: "req-r", decision: .rejected)
            rejectedWithoutBytes.rawRequest = nil
            var noTenant = Fixtures.decision(id: "req-t", tenant: nil)
            noTenant.decision = .allow
            for (record, constraint) in [
                (rejectedWithoutBytes, "decisions_rejected_keep_request"), (noTenant, "decisions_tenant_known"),
            ] {
                await #expect {
                    try await repository.insertDecision(record)
                } throws: { error in
                    guard let error = error as? AuditStoreError else { return false }
                    return error.sqlState == "23514" && error.constraint == constraint
                        && error.description.contains(constraint)
                }
            }
            #expect(try await repository.count() == 0)
        }
    }

    @Test func rejectedMessagesUseTheSyntheticIdOfTheirPosition() async throws {
        let source = SourcePosition(topic: "chaperone.requests", partition: 3, offset: 1042)
        let id = source.syntheticRequestID
        #expect(id == "kafka:chaperone.requests:3:1042")
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            var record = Fixtures.decision(id: id, tenant: nil, decision: .rejected, prompt: nil, offset: 1042)
            record.requestIDIsSynthetic = true
            record.source = source
            record.rawRequest = [0xff, 0xfe, 0x00, 0x7b]  // invalid UTF-8 kept as bytes
            record.publishedTopic = "chaperone.requests.dlq"
            #expect(try await repository.insertDecision(record).wasInserted)
            let stored = try #require(try await repository.decision(requestID: id))
            #expect(stored.rawRequest == [0xff, 0xfe, 0x00, 0x7b])
            #expect(stored.requestIDIsSynthetic)
            #expect(stored.tenant == nil)
        }
    }

    @Test func recentDecisionsAndSummaryFilterAndCount() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            let plan: [(String, DecisionRecord.Decision)] = [
                ("acme", .allow), ("acme", .allow), ("acme", .block), ("globex", .censor), ("globex", .allow),
            ]
            for (i, (tenant, decision)) in plan.enumerated() {
                var record = Fixtures.decision(id: "req-\(i)", tenant: tenant, decision: decision)
                record.decidedAt = SQLTimestamp(microsecondsSince1970: 1_764_000_000_000_000 + Int64(i) * 1_000_000)
                _ = try await repository.insertDecision(record)
            }
            let all = try await repository.recentDecisions()
            #expect(all.map(\.requestID) == ["req-4", "req-3", "req-2", "req-1", "req-0"])
            #expect(all.first?.topic == "chaperone.requests" && all.first?.partition == 2 && all.first?.offset == 7)
            #expect(try await repository.recentDecisions(tenant: "acme", limit: 2).map(\.requestID) == ["req-2", "req-1"])
            #expect(try await repository.recentDecisions(decision: .allow).map(\.requestID) == ["req-4", "req-1", "req-0"])
            #expect(try await repository.recentDecisions(tenant: "globex", decision: .censor).map(\.requestID) == ["req-3"])
            #expect(try await repository.recentDecisions(tenant: "nobody").isEmpty)
            await #expect(throws: AuditStoreError.self) { try await repository.recentDecisions(limit: 0) }

            let summary = try await repository.summary()
            #expect(summary == [
                DecisionCount(tenant: "acme", decision: .allow, count: 2),
                DecisionCount(tenant: "acme", decision: .block, count: 1),
                DecisionCount(tenant: "globex", decision: .allow, count: 1),
                DecisionCount(tenant: "globex", decision: .censor, count: 1),
            ])
            #expect(try await repository.count() == plan.count)
        }
    }
}

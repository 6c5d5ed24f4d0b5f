import AuditStore
@testable import Console
import Contracts
import Foundation
import Testing

/// Migration 005 in the database itself: verdicts are append-only and only reviewers insert
/// them, only for censored or blocked decisions; the console's role reads logins and keeps
/// sessions but reads no decision except through the analyst or reviewer role.
@Suite struct ConsoleDatabaseTests {
    /// The SQLSTATE each statement fails with as `role` (nil: it succeeded).
    static func outcomes(_ statements: [SQLQuery], as role: String, on connection: Connection) async throws -> [String?] {
        try await connection.withSession { session in
            try session.query("SET ROLE \(identifier: role)")
            defer { _ = try? session.query("RESET ROLE") }
            return statements.map { statement in
                do {
                    try session.query(statement)
                    return nil
                } catch let error as AuditStoreError {
                    return error.sqlState ?? "\(error.code)"
                } catch {
                    return "\(error)"
                }
            }
        }
    }

    @Test func onlyReviewersInsertVerdictsAndNobodyChangesThem() async throws {
        try await ConsoleFixture.with { fixture in
            let insert: SQLQuery = "INSERT INTO reviews (request_id, verdict, reviewer) VALUES ('r-censor-1', 'overturn', 'x')"
            #expect(try await Self.outcomes([insert], as: "chaperone_analyst", on: fixture.admin) == ["42501"])
            #expect(try await Self.outcomes([insert], as: "chaperone_worker", on: fixture.admin) == ["42501"])
            #expect(try await Self.outcomes([insert], as: "chaperone_console", on: fixture.admin) == ["42501"], "the console writes verdicts only as reviewer")
            let reviewer = try await Self.outcomes([
                insert,
                "INSERT INTO reviews (request_id, verdict, reviewer) VALUES ('r-allow-1', 'overturn', 'x')",
                "INSERT INTO reviews (request_id, verdict, reviewer) VALUES ('r-rejected-1', 'uphold', 'x')",
                "INSERT INTO reviews (request_id, verdict, reviewer) VALUES ('no-such', 'uphold', 'x')",
                "INSERT INTO reviews (request_id, verdict, reviewer) VALUES ('r-block-1', 'maybe', 'x')",
                "UPDATE reviews SET verdict = 'uphold'",
                "DELETE FROM reviews",
                "UPDATE decisions SET decision = 'allow' WHERE request_id = 'r-censor-1'",
                "SELECT * FROM console_users",
            ], as: "chaperone_reviewer", on: fixture.admin)
            #expect(reviewer == [nil, "23514", "23514", "23514", "23514", "42501", "42501", "42501", "42501"])
            // Even the owner cannot change or remove a verdict.
            let owner = try await Self.outcomes(["UPDATE reviews SET note = 'x'", "DELETE FROM reviews", "TRUNCATE reviews"], as: "postgres", on: fixture.admin)
            #expect(owner == ["42501", "42501", "42501"])
            #expect(try await fixture.admin.query("SELECT count(*) AS n FROM reviews").single("n").decode("n", as: Int.self) == 1)
        }
    }

    /// Migration 006: withheld images (blocked images, originals of censored ones) are read by
    /// reviewers only, inserted by the worker, never changed, and deleted only by the owner.
    @Test func onlyReviewersReadWithheldImagesAndOnlyTheOwnerDeletesThem() async throws {
        try await ConsoleFixture.with { fixture in
            let read: SQLQuery = "SELECT bytes FROM withheld_images"
            #expect(try await Self.outcomes([read], as: "chaperone_analyst", on: fixture.admin) == ["42501"])
            #expect(try await Self.outcomes([read], as: "chaperone_console", on: fixture.admin) == ["42501"])
            #expect(try await Self.outcomes([read, "DELETE FROM withheld_images"], as: "chaperone_reviewer", on: fixture.admin) == [nil, "42501"])
            let other = ConsoleFixture.censoredPNG
            let worker = try await Self.outcomes([
                "INSERT INTO withheld_images (sha256, bytes) VALUES (\(SHA256.hex(other)), \(SQLBytes(other)))",
                "INSERT INTO withheld_images (sha256, bytes) VALUES (\(String(repeating: "0", count: 64)), \(SQLBytes(other)))",
                "UPDATE withheld_images SET media_type = 'image/jpeg'",
                "DELETE FROM withheld_images",
            ], as: "chaperone_worker", on: fixture.admin)
            #expect(worker == [nil, "23514", "42501", "42501"], "inserts must match their digest; no changes")
            let owner = try await Self.outcomes([
                "UPDATE withheld_images SET media_type = 'image/jpeg'",
                "DELETE FROM withheld_images WHERE sha256 = \(SHA256.hex(other))",
            ], as: "postgres", on: fixture.admin)
            #expect(owner == ["42501", nil], "rows never change; the owner may delete them for retention")
            #expect(try await fixture.admin.query("SELECT count(*) AS n FROM withheld_images").single("n").decode("n", as: Int.self) == 2)
        }
    }

    @Test func consoleRoleReadsLoginsButNoDecisionDirectly() async throws {
        try await ConsoleFixture.with { fixture in
            let results = try await Self.outcomes([
                "SELECT name, role, password_hash FROM console_users",
                "SELECT * FROM console_sessions",
                "SELECT * FROM decisions",
                "SELECT published_payload FROM decisions",
                "INSERT INTO console_users (name, role, password_hash) VALUES ('x', 'reviewer', 'pbkdf2-sha256$1$AA==$AA==')",
                "SET ROLE chaperone_analyst",
                "SELECT count(*) FROM audit_decision_details",
                "SELECT * FROM console_users",
                "SELECT * FROM decisions",
            ], as: "chaperone_console", on: fixture.admin)
            #expect(results == [nil, nil, "42501", "42501", "42501", nil, nil, "42501", "42501"])
            // Analysts never see the password hashes.
            #expect(try await Self.outcomes(["SELECT * FROM console_users"], as: "chaperone_analyst", on: fixture.admin) == ["42501"])
        }
    }

    @Test func detailsViewShowsRawRequestsOfRejectedDecisionsOnly() async throws {
        try await ConsoleFixture.with { fixture in
            let rows = try await fixture.admin.query("SELECT request_id, raw_request IS NOT NULL AS raw, published_image_base64 IS NOT NULL AS inline, published_image_ref FROM audit_decision_details ORDER BY request_id")
            let table = try rows.map { row in
                [try row.decode("request_id", as: String.self), try row.decode("raw", as: Bool.self) ? "raw" : "-",
                 try row.decode("inline", as: Bool.self) ? "inline" : "-", try row.decodeIfPresent("published_image_ref", as: String.self) ?? "-"]
            }
            #expect(table == [
                ["r-allow-1", "-", "inline", "-"], ["r-block-1", "-", "-", "-"], ["r-censor-1", "-", "inline", "-"],
                ["r-censor-ref", "-", "-", "postgresql:images/" + SHA256.hex(ConsoleFixture.censoredPNG)], ["r-rejected-1", "raw", "-", "-"],
            ])
        }
    }

    @Test func userAddRefusesDuplicatesAndBadInputAndReplacingEndsSessions() async throws {
        try await ConsoleFixture.with { fixture in
            await #expect(throws: ConsoleError.self) {
                try await ConsoleUsers.add(name: "rev", role: .analyst, password: "another-password", replace: false, on: fixture.admin, iterations: 1000)
            }
            await #expect(throws: ConsoleError.self) {
                try await ConsoleUsers.add(name: "bad name", role: .analyst, password: "another-password", replace: false, on: fixture.admin, iterations: 1000)
            }
            await #expect(throws: ConsoleError.self) {
                try await ConsoleUsers.add(name: "short", role: .analyst, password: "1234567", replace: false, on: fixture.admin, iterations: 1000)
            }
            let login = try #require(try await fixture.store.login(name: "rev", password: ConsoleFixture.reviewer.password))
            #expect(login.session.role == .reviewer)
            #expect(try await fixture.store.session(token: login.token) == login.session)
            try await ConsoleUsers.add(name: "rev", role: .analyst, password: "another-password", replace: true, on: fixture.admin, iterations: 1000)
            #expect(try await fixture.store.session(token: login.token) == nil)
            #expect(try await fixture.store.login(name: "rev", password: ConsoleFixture.reviewer.password) == nil)
            #expect(try await fixture.store.login(name: "rev", password: "another-password")?.session.role == .analyst)
        }
    }
}

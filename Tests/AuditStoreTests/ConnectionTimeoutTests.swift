import AuditStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// Every wait for the server is bounded (`ConnectionSettings`): the session gets the configured
/// `statement_timeout`, the URL's own settings win, the client gives a silent server up after
/// the session's timeout plus a grace second, and opening a connection to a server that never
/// answers fails within the connect timeout.
@Suite struct ConnectionTimeoutTests {
    static func setting(_ name: String, on connection: Connection) async throws -> String {
        try await connection.query("SELECT current_setting(\(name)) AS value").single("setting").decode("value")
    }

    @Test func theSessionGetsTheConfiguredStatementTimeout() async throws {
        try await TestDatabase.with { db in
            let connection = try await Connection.connect(
                url: db.url, overrides: db.overrides, settings: ConnectionSettings(statementTimeout: .milliseconds(1500)))
            #expect(try await Self.setting("statement_timeout", on: connection) == "1500ms")
            #expect(try await Self.setting("client_encoding", on: connection) == "UTF8")
            let text = try await connection.query("SELECT \("Grüße, 東京 🦊") AS text").single("text").decode("text", as: String.self)
            #expect(text == "Grüße, 東京 🦊")
            let unbounded = try await Connection.connect(url: db.url, overrides: db.overrides, settings: .unbounded)
            #expect(try await Self.setting("statement_timeout", on: unbounded) == "0")
        }
    }

    @Test func theURLsOptionsWinAndAreKept() async throws {
        try await TestDatabase.with { db in
            // A statement_timeout in the URL's options beats the configured one.
            let own = try await Connection.connect(
                url: db.url + "?options=-c%20statement_timeout%3D250", overrides: db.overrides,
                settings: ConnectionSettings(statementTimeout: .seconds(7)))
            #expect(try await Self.setting("statement_timeout", on: own) == "250ms")
            // Other options of the URL stay, next to the configured statement timeout.
            let other = try await Connection.connect(
                url: db.url + "?options=-c%20search_path%3Dfrom_url", overrides: db.overrides,
                settings: ConnectionSettings(statementTimeout: .seconds(7)))
            #expect(try await Self.setting("statement_timeout", on: other) == "7s")
            #expect(try await Self.setting("search_path", on: other) == "from_url")
        }
    }

    @Test func aSlowStatementIsCancelledByTheServerAndTheConnectionKept() async throws {
        try await TestDatabase.with { db in
            let connection = try await Connection.connect(
                url: db.url, overrides: db.overrides, settings: ConnectionSettings(statementTimeout: .milliseconds(300)))
            let pid = try await connection.backendPID()
            let started = ContinuousClock.now
            await #expect {
                try await connection.query("SELECT pg_sleep(10)")
            } throws: { error in
                let error = error as? AuditStoreError
                return error?.sqlState == "57014" && error?.code == .queryFailed && error?.isRetriable == true
            }
            #expect(ContinuousClock.now - started < .seconds(8), "cancelled, not slept out (loose: the suite shares 2 cores)")
            #expect(try await connection.backendPID() == pid, "a server-side cancellation keeps the session")
        }
    }

    @Test func aServerThatDoesNotAnswerIsGivenUpAfterTheTimeoutPlusGrace() async throws {
        try await TestDatabase.with { db in
            let connection = try await Connection.connect(
                url: db.url, overrides: db.overrides, settings: ConnectionSettings(statementTimeout: .milliseconds(400)))
            let pid = try await connection.backendPID()
            // Behind the client's back the server stops enforcing a timeout: it stands for a
            // server that cannot (stopped, frozen), so only the client's own bound remains.
            let started = ContinuousClock.now
            await #expect {
                try await connection.query("SET statement_timeout = 0; SELECT pg_sleep(20)")
            } throws: { error in
                let error = error as? AuditStoreError
                return error?.code == .timedOut && error?.isRetriable == true
            }
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(1300) && waited < .seconds(15),
                    "waited \(waited): the session's 400 ms plus the grace second, not the 20 s sleep (loose: the suite shares 2 cores)")
            // The next call opens a new session, bounded again.
            let one = try await connection.query("SELECT 1 AS one").single("one")
            #expect(try one.decode("one", as: Int.self) == 1)
            #expect(try await connection.backendPID() != pid, "the silent session was given up")
            #expect(try await Self.setting("statement_timeout", on: connection) == "400ms")
        }
    }

    @Test func withoutStatementTimeoutLiftsBothBoundsThenRestoresThem() async throws {
        try await TestDatabase.with { db in
            let connection = try await Connection.connect(
                url: db.url, overrides: db.overrides, settings: ConnectionSettings(statementTimeout: .milliseconds(200)))
            let inside = try await connection.withSession { session in
                try session.withoutStatementTimeout { session in
                    // Longer than both the server's 200 ms and the client's 1.2 s.
                    try session.query("SELECT pg_sleep(1.5)")
                    return try session.query("SELECT current_setting('statement_timeout') AS value").single("inside").text("value")
                }
            }
            #expect(inside == "0")
            #expect(try await Self.setting("statement_timeout", on: connection) == "200ms")
            await #expect {
                try await connection.query("SELECT pg_sleep(2)")
            } throws: { error in (error as? AuditStoreError)?.sqlState == "57014" }
        }
    }

    /// A loopback port that listens but never accepts: the kernel completes the TCP handshake
    /// and then nothing ever answers, like a stopped server. Closed by `body`'s end.
    static func withSilentListener<Value>(_ body: (Int) async throws -> Value) async throws -> Value {
        let listener = try LoopbackSocket.bound(listeningWith: 8)
        defer { close(listener.descriptor) }
        return try await body(listener.port)
    }

    /// Connects to `url` expecting a retriable connection failure; returns how long it took.
    static func failingConnect(_ url: String, settings: ConnectionSettings) async -> Duration {
        let started = ContinuousClock.now
        await #expect {
            try await Connection.connect(url: url, settings: settings)
        } throws: { error in
            guard let error = error as? AuditStoreError else { return false }
            return error.code == .connectionFailed && error.isRetriable && !"\(error)".contains("hunter2")
        }
        return ContinuousClock.now - started
    }

    @Test func connectingToAServerThatNeverAnswersFailsWithinTheConnectTimeout() async throws {
        try await Self.withSilentListener { port in
            let waited = await Self.failingConnect(
                "postgresql://nobody:hunter2@127.0.0.1:\(port)/none?sslmode=disable",
                settings: ConnectionSettings(connectTimeout: .milliseconds(800)))
            // The upper bound only says "gave up" (a silent server otherwise holds the call
            // forever); it is loose because the whole suite shares 2 cores.
            #expect(waited >= .milliseconds(700) && waited < .seconds(60), "gave up after \(waited)")
        }
    }

    @Test func theURLsConnectTimeoutWins() async throws {
        try await Self.withSilentListener { port in
            let waited = await Self.failingConnect(
                "postgresql://nobody:hunter2@127.0.0.1:\(port)/none?sslmode=disable&connect_timeout=2",
                settings: ConnectionSettings(connectTimeout: .milliseconds(300)))
            #expect(waited >= .milliseconds(1900) && waited < .seconds(60), "the URL's 2 s, not the setting's 300 ms: \(waited)")
        }
    }

    @Test func timedOutIsRetriable() {
        let error = AuditStoreError(.timedOut, "no answer")
        #expect(error.isRetriable)
        #expect("\(error)" == "AuditStoreError.timedOut: no answer [retriable]")
    }
}

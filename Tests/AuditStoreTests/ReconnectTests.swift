import AuditStore
import Foundation
import Testing

@Suite struct ReconnectTests {
    /// Terminates `connection`'s server process from another session and waits until it is gone.
    static func terminateBackend(of connection: Connection, db: TestDatabase) async throws -> Int32 {
        let pid = try await connection.backendPID()
        let admin = try await db.connect()
        let killed = try await admin.query("SELECT pg_terminate_backend(\(pid), 5000) AS killed").single("terminate")
        #expect(try killed.decode("killed", as: Bool.self))
        return pid
    }

    @Test func aQueryAfterTheBackendWasKilledFailsRetriablyThenReconnects() async throws {
        try await TestDatabase.with { db in
            let connection = try await db.connect()
            let oldPID = try await Self.terminateBackend(of: connection, db: db)
            do {
                let one = try await connection.query("SELECT 1 AS one").single("one")
                #expect(try one.decode("one", as: Int.self) == 1)  // reconnected transparently
            } catch let error as AuditStoreError {
                #expect(error.isRetriable, "\(error.debugDescription)")
                #expect(error.code == .connectionLost)
            }
            let one = try await connection.query("SELECT 1 AS one").single("one")
            #expect(try one.decode("one", as: Int.self) == 1)
            #expect(try await connection.backendPID() != oldPID)
        }
    }

    @Test func repositoryCallsRetryOnceAcrossAKilledConnection() async throws {
        try await TestDatabase.with { db in
            let repository = AuditRepository(connection: try await db.migrated())
            _ = try await repository.insertDecision(Fixtures.decision(id: "req-before"))
            _ = try await Self.terminateBackend(of: repository.connection, db: db)
            #expect(try await repository.insertDecision(Fixtures.decision(id: "req-after")).wasInserted)
            _ = try await Self.terminateBackend(of: repository.connection, db: db)
            #expect(try await repository.count() == 2)
        }
    }

    @Test func anUnreachableServerIsARetriableConnectionFailure() async throws {
        // Port 1 on loopback: nothing listens there.
        await #expect {
            try await Connection.connect(url: "postgresql://nobody:hunter2@127.0.0.1:1/none?connect_timeout=2")
        } throws: { error in
            guard let error = error as? AuditStoreError else { return false }
            return error.code == .connectionFailed && error.isRetriable && !"\(error)".contains("hunter2")
        }
    }
}

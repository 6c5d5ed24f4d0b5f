import AuditStore
import Contracts
import Foundation
import Testing

/// Migration 007: tenants' fairness streams in PostgreSQL, shared by workers and kept by request id.
@Suite struct FairnessStreamStoreTests {
    static let target = FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5])

    @Test func assignsInStreamOrderOncePerRequestAndPerTenant() async throws {
        try await TestDatabase.with { database in
            let repository = AuditRepository(connection: try await database.migrated())
            var values: [String] = []
            for i in 0..<6 {
                let assignment = try await repository.assignFairness(requestID: "r-\(i)", tenant: "acme", target: Self.target)
                #expect(assignment.streamIndex == i && assignment.family == "gender")
                values.append(assignment.value)
            }
            #expect(values == ["female", "male", "female", "male", "female", "male"])
            // A redelivery gets its first assignment; the stream does not move.
            let again = try await repository.assignFairness(requestID: "r-2", tenant: "acme", target: Self.target)
            #expect(again == FairnessAssignment(family: "gender", value: "female", streamIndex: 2))
            #expect(try await repository.assignFairness(requestID: "r-6", tenant: "acme", target: Self.target).streamIndex == 6)
            // Another tenant, and another target of the same tenant, have streams of their own.
            #expect(try await repository.assignFairness(requestID: "g-0", tenant: "globex", target: Self.target).streamIndex == 0)
            let skewed = FairnessTarget(family: "gender", proportions: ["female": 0.25, "male": 0.75])
            let skewedValues = try await (0..<4).asyncMap { try await repository.assignFairness(requestID: "s-\($0)", tenant: "acme", target: skewed).value }
            #expect(skewedValues == ["male", "female", "male", "male"])
            let row = try await repository.connection.query("""
                SELECT counts::text AS counts, assigned FROM fairness_streams WHERE tenant = 'acme' AND target = 'gender:female=0.5,male=0.5'
                """).single("stream")
            #expect(try row.decode("assigned", as: Int.self) == 7)
            #expect(try row.decode("counts", as: String.self) == #"{"male": 3, "female": 4}"#)
        }
    }

    /// Workers assigning at once take turns on the stream row: every index once, shares exact.
    @Test func concurrentWorkersShareOneStream() async throws {
        try await TestDatabase.with { database in
            _ = try await database.migrated()
            let workers = try await (0..<4).asyncMap { _ in AuditRepository(connection: try await database.connect()) }
            let assignments = try await withThrowingTaskGroup(of: [FairnessAssignment].self) { group in
                for (w, repository) in workers.enumerated() {
                    group.addTask {
                        var mine: [FairnessAssignment] = []
                        for i in 0..<10 { mine.append(try await repository.assignFairness(requestID: "w\(w)-\(i)", tenant: "acme", target: Self.target)) }
                        // The same request from two workers at once gets one assignment.
                        mine.append(try await repository.assignFairness(requestID: "shared", tenant: "acme", target: Self.target))
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let distinct = Dictionary(grouping: assignments, by: \.streamIndex)
            #expect(distinct.count == 41, "41 requests, 41 positions")
            #expect(distinct.values.allSatisfy { Set($0).count == 1 }, "one position, one assignment")
            let counts = Dictionary(grouping: Set(assignments), by: \.value).mapValues(\.count)
            #expect(counts["female"] == 21 && counts["male"] == 20)
        }
    }

    @Test func textTheDatabaseCannotHoldIsRefusedByName() async throws {
        try await TestDatabase.with { database in
            let repository = AuditRepository(connection: try await database.migrated())
            await #expect(throws: AuditStoreError.self) {
                try await repository.assignFairness(requestID: "r\u{0}", tenant: "acme", target: Self.target)
            }
            do {
                _ = try await repository.assignFairness(requestID: "r", tenant: "acme", target: FairnessTarget(family: "gen\u{0}der", proportions: ["a": 1]))
                Issue.record("a NUL in the family was accepted")
            } catch let error as AuditStoreError {
                #expect(error.description.contains("fairness family"))
            }
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

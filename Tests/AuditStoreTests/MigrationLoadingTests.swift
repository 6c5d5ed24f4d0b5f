import AuditStore
import Foundation
import Testing

@Suite struct MigrationLoadingTests {
    func folder(_ files: [String: String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("chaperone-migration-load-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: folder.appendingPathComponent(name)) }
        return folder
    }

    func loadError(_ files: [String: String]) throws -> AuditStoreError? {
        do {
            _ = try Migration.load(from: try folder(files))
            return nil
        } catch let error as AuditStoreError {
            return error
        }
    }

    @Test func projectMigrationsLoadInOrder() throws {
        let migrations = try Migration.load(from: Fixtures.migrations)
        #expect(!migrations.isEmpty)
        #expect(migrations.map(\.version) == Array(1...migrations.count))
        #expect(migrations.first?.fileName == "001_decisions.sql")
    }

    @Test func ordersByNumberNotListing() throws {
        let migrations = try Migration.load(from: try folder(["002_b.sql": "B", "001_a.sql": "A", "003_c.sql": "C", "README.md": "x"]))
        #expect(migrations.map(\.name) == ["a", "b", "c"])
        #expect(migrations.map(\.contents) == [Array("A".utf8), Array("B".utf8), Array("C".utf8)])
    }

    @Test func refusesAGap() throws {
        let error = try #require(try loadError(["001_a.sql": "", "003_c.sql": ""]))
        #expect(error.code == .invalidMigrations)
        #expect(error.message.contains("003_c.sql"))
    }

    @Test func refusesADuplicateNumber() throws {
        let error = try #require(try loadError(["001_a.sql": "", "002_b.sql": "", "002_other.sql": ""]))
        #expect(error.code == .invalidMigrations)
        #expect(error.message.contains("002_b.sql") && error.message.contains("002_other.sql"))
    }

    @Test func refusesBadNamesAndNotStartingAtOne() throws {
        for files in [["1_a.sql": ""], ["001-a.sql": ""], ["001_A.sql": ""], ["abc_x.sql": ""], ["002_b.sql": ""]] {
            let error = try #require(try loadError(files), "\(files)")
            #expect(error.code == .invalidMigrations)
            #expect(error.message.contains(files.keys.first!))
        }
    }

    @Test func refusesAMissingFolder() throws {
        let missing = URL(fileURLWithPath: "/nonexistent/chaperone-migrations")
        #expect {
            try Migration.load(from: missing)
        } throws: { error in
            let error = error as? AuditStoreError
            return error?.code == .invalidMigrations && error?.message.contains(missing.path) == true
        }
    }
}

import Foundation
import TestSupport

/// Paths of the committed contract fixtures and schema files, found relative to this file.
enum Fixtures {
    static let repositoryRoot = TestPaths.repositoryRoot
    static let contracts = repositoryRoot.appendingPathComponent("Tests/Fixtures/contracts")
    static let schemas = repositoryRoot.appendingPathComponent("schemas")

    static func bytes(_ relativePath: String) throws -> [UInt8] {
        Array(try Data(contentsOf: contracts.appendingPathComponent(relativePath)))
    }

    static func schema(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: schemas.appendingPathComponent(name))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    struct Manifest: Decodable {
        struct Entry: Decodable {
            var file: String
            var schema_valid: Bool
            var rejection: String?
        }
        var requests: [Entry]
        var results: [Entry]
        var dlq: [Entry]
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: contracts.appendingPathComponent("manifest.json")))
    }
}

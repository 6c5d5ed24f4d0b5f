import Foundation
import TestSupport

/// Files of the repository this test target lives in, found relative to this source file.
enum RepositoryFiles {
    /// The repository root: two folders above `Tests/DeploymentTests/`.
    static let root = TestPaths.repositoryRoot

    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String { "deployment file \(path) is missing or unreadable" }
    }

    /// The text of `path`, relative to the root.
    static func text(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path),
            let text = String(data: data, encoding: .utf8)
        else { throw Missing(path: path) }
        return text
    }

    /// Relative paths of the files under `folder` (recursively) whose names end with one of `extensions`.
    static func files(under folder: String, extensions: [String]) -> [String] {
        let base = root.appendingPathComponent(folder)
        guard let enumerator = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        var found: [String] = []
        for case let url as URL in enumerator where extensions.contains(url.pathExtension) {
            found.append(folder + "/" + url.path.dropFirst(base.path.count + 1))
        }
        return found.sorted()
    }

    /// All Swift sources under `folder`, concatenated.
    static func swiftSources(under folder: String) throws -> String {
        try files(under: folder, extensions: ["swift"]).map(text).joined(separator: "\n")
    }
}

import Foundation

/// Where the repository's test inputs are: the committed fixtures (`Tests/Fixtures`), the
/// shipped demo model and the migrations, found from this file's place in the tree so tests
/// run from any working directory.
public enum TestPaths {
    /// The repository's root folder.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures`.
    public static let fixtures = repositoryRoot.appendingPathComponent("Tests/Fixtures")

    /// `Tests/Fixtures/<path>`, e.g. `fixture("tiny-sd")` or `fixture("unet/tiny")`.
    public static func fixture(_ path: String) -> URL { fixtures.appendingPathComponent(path) }

    /// A path below the repository root, e.g. `schemas/migrations`.
    public static func repository(_ path: String) -> URL { repositoryRoot.appendingPathComponent(path) }

    /// Copies every file below `source` (symlinks resolved) to the same place below
    /// `destination`, as new files: a test can then change the copy without touching a fixture.
    public static func copyFiles(of source: URL, to destination: URL) throws {
        let fm = FileManager.default
        let source = source.resolvingSymlinksInPath()
        for relative in try fm.subpathsOfDirectory(atPath: source.path) {
            var isDirectory: ObjCBool = false
            let from = source.appendingPathComponent(relative)
            guard fm.fileExists(atPath: from.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let to = destination.appendingPathComponent(relative)
            try fm.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contentsOf: from).write(to: to)
        }
    }

    /// A fresh folder path under the temporary directory (not created), named `prefix-<uuid>`.
    public static func scratchFolder(_ prefix: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
    }
}

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
}

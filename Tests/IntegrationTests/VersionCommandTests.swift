import Foundation
import Testing
import Worker

/// `chaperone --version` names the version, the git commit the binary was built from and the
/// librdkafka it links.
@Suite struct VersionCommandTests {
    @Test func versionNamesTheCommitOfTheSources() throws {
        let (status, output, _) = try ChaperoneCommand.run(["--version"])
        #expect(status == 0)
        // `1.0.0 (commit <40 hex>[+dirty], librdkafka x.y.z)`. The binary may have been built
        // after this test bundle (a later build of the chaperone product alone), so its commit
        // is read from its own output, not compared with this process's.
        let line = output.trimmingCharacters(in: .newlines)
        let prefix = "\(BuildInfo.version) (commit "
        #expect(line.hasPrefix(prefix), "\(line)")
        let rest = line.dropFirst(prefix.count)
        let commitField = String(rest.prefix { $0 != "," })
        let commit = commitField.replacingOccurrences(of: "+dirty", with: "")
        #expect(commit.count == 40 && commit.allSatisfy(\.isHexDigit), "commit \(commitField): the build saw no git checkout")
        let librdkafka = rest.drop { $0 != "," }.dropFirst(", librdkafka ".count).dropLast()
        #expect(line.hasSuffix(")") && librdkafka.split(separator: ".").count == 3, "\(line)")

        // The commit is one of this checkout's: HEAD, or an ancestor of it when commits were made
        // after the build.
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        git.arguments = ["-C", IntegrationEnvironment.repositoryRoot.path, "merge-base", "--is-ancestor", commit, "HEAD"]
        try git.run()
        git.waitUntilExit()
        #expect(git.terminationStatus == 0, "\(commit) is not HEAD or an ancestor of it")
    }
}

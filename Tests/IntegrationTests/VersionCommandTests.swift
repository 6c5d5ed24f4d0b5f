import Foundation
import Testing
import Worker

/// `chaperone --version` names the version, the git commit the binary was built from and the
/// librdkafka it links.
@Suite struct VersionCommandTests {
    @Test func versionNamesTheCommitOfTheSources() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ScoreCommandTests.binary())
        process.arguments = ["--version"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(output.trimmingCharacters(in: .newlines) == BuildInfo.description)
        let commit = BuildInfo.commit.replacingOccurrences(of: "+dirty", with: "")
        #expect(commit.count == 40 && commit.allSatisfy(\.isHexDigit), "commit \(BuildInfo.commit): the build saw no git checkout")
        #expect(output.hasPrefix("\(BuildInfo.version) (commit \(BuildInfo.commit), librdkafka "))

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

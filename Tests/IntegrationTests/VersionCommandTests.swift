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

        // The commit is the checkout's HEAD (the tests build from the working tree).
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        git.arguments = ["-C", IntegrationEnvironment.repositoryRoot.path, "rev-parse", "HEAD"]
        let head = Pipe()
        git.standardOutput = head
        try git.run()
        let headCommit = String(decoding: head.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        git.waitUntilExit()
        #expect(commit == headCommit)
    }
}

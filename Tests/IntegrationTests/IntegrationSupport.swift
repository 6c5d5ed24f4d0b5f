import AuditStore
import Foundation
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// Environment and processes for the integration tests.
enum IntegrationEnvironment {
    static let repositoryRoot = TestPaths.repositoryRoot

    /// The superuser URL of the test PostgreSQL, or a failure explaining how to start it.
    static func postgresURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["CHAPERONE_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw IntegrationError(
                "CHAPERONE_TEST_POSTGRES_URL is not set: run `ops/lib/postgres.sh start` and "
                    + "`eval \"$(ops/lib/postgres.sh env)\"` before the integration tests")
        }
        return url
    }

    /// The test worker executable: CHAPERONE_TEST_WORKER_BIN, else next to the test bundle.
    static func testWorkerBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["CHAPERONE_TEST_WORKER_BIN"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw IntegrationError("CHAPERONE_TEST_WORKER_BIN=\(path) is not an executable file")
            }
            return path
        }
        var candidates: [URL] = []
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(folder.appendingPathComponent("chaperone-test-worker"))
            folder = folder.deletingLastPathComponent()
        }
        for bundle in Bundle.allBundles {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("chaperone-test-worker"))
        }
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) {
            return found.path
        }
        throw IntegrationError(
            "chaperone-test-worker not found next to the test bundle (looked in \(candidates.map(\.path))); "
                + "build it (`swift build --product chaperone-test-worker`) or set CHAPERONE_TEST_WORKER_BIN")
    }

    /// `url` with its database name replaced by `database`.
    static func url(_ url: String, database: String) throws -> String {
        guard var components = URLComponents(string: url) else { throw IntegrationError("cannot parse the PostgreSQL URL") }
        components.path = "/" + database
        guard let result = components.string else { throw IntegrationError("cannot build the PostgreSQL URL") }
        return result
    }
}

struct IntegrationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh database created for one test and dropped after it.
struct FreshDatabase {
    let name: String
    let adminURL: String
    let url: String

    static func create(prefix: String) async throws -> FreshDatabase {
        let adminURL = try IntegrationEnvironment.postgresURL()
        let name = "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await Connection.connect(url: adminURL)
        try await admin.query("CREATE DATABASE \(identifier: name)")
        return FreshDatabase(name: name, adminURL: adminURL, url: try IntegrationEnvironment.url(adminURL, database: name))
    }

    func drop() async {
        if let admin = try? await Connection.connect(url: adminURL) {
            _ = try? await admin.query("DROP DATABASE IF EXISTS \(identifier: name) WITH (FORCE)")
        }
    }
}

/// One `chaperone-test-worker` process with its log file.
///
/// `id` is the process's worker id, hence its static group membership id
/// (`kafka.group_instance_id` defaults to it): give every process its own, or a restarted
/// worker rejoins as its predecessor without a rebalance. `slot` names the place the process
/// fills (default: `id`); a restart keeps it, so the transactional id derived from it fences
/// the predecessor's open transaction at once.
final class WorkerProcess: @unchecked Sendable {
    let id: String
    let slot: String
    let process = Process()
    let logURL: URL

    init(binary: String, id: String, slot: String? = nil, environment: [String: String], logFolder: URL) throws {
        self.id = id
        self.slot = slot ?? id
        logURL = logFolder.appendingPathComponent("\(id)-\(UInt32.random(in: 0...UInt32.max)).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: binary)
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        env["CHAPERONE_WORKER_ID"] = id
        if env["CHAPERONE_TEST_TRANSACTIONAL"] == "1" { env["CHAPERONE_KAFKA_TRANSACTIONAL_ID"] = "chaperone-it-\(self.slot)" }
        process.environment = env
        process.currentDirectoryURL = IntegrationEnvironment.repositoryRoot
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// kill -9: no chance to finish, commit or leave the group.
    func kill9() {
        if process.isRunning { _ = kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGTERM, then wait up to `timeout` for a graceful exit (SIGKILL after).
    func terminate(timeout: Duration) async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            kill9()
            return nil
        }
        return process.terminationStatus
    }

    /// The whole log so far.
    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    var logTail: String { String(log.suffix(2000)) }
}

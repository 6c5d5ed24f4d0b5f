import Foundation

/// Runs the `chaperone` binary (CHAPERONE_BIN, set by ops/test; else next to the test worker)
/// from the repository root, for the tests of its subcommands.
enum ChaperoneCommand {
    static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["CHAPERONE_BIN"], !path.isEmpty { return path }
        let worker = URL(fileURLWithPath: try IntegrationEnvironment.testWorkerBinary())
        return worker.deletingLastPathComponent().appendingPathComponent("chaperone").path
    }

    /// Runs `chaperone arguments…` with this process's environment, less the variables that
    /// start with one of `removing`, plus `environment`; returns the exit status, standard
    /// output and standard error.
    static func run(
        _ arguments: [String], environment extra: [String: String] = [:], removing prefixes: [String] = []
    ) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        process.currentDirectoryURL = IntegrationEnvironment.repositoryRoot
        process.environment = ProcessInfo.processInfo.environment
            .filter { variable in !prefixes.contains { variable.key.hasPrefix($0) } }
            .merging(extra) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self))
    }
}

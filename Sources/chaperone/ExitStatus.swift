import ArgumentParser
import Configuration
import Foundation
import Worker

/// Exit statuses shared by the subcommands (README, "Exit status"): 0 done, 1 failed at run
/// time (the message says what), 64 invalid arguments, 78 an invalid configuration value
/// (flag, `CHAPERONE_*` variable or `--config` file; the message names the key). `score` adds
/// 2 for `--fail-on`; `probe` exits 1 when the endpoint does not answer 200.
enum ExitStatus {
    /// EX_CONFIG of sysexits(3).
    static let invalidConfiguration: Int32 = 78
}

extension WorkerConfiguration {
    /// The configuration for a subcommand: as ``WorkerConfiguration/load(flags:environment:configFile:)``,
    /// but an invalid value ends the command with ``ExitStatus/invalidConfiguration`` and the
    /// problem on standard error.
    static func loadForCommand(flags: [String: ConfigContent] = [:], configFile: String?) async throws -> WorkerConfiguration {
        do {
            return try await load(flags: flags, configFile: configFile)
        } catch let error as WorkerError where error.code == .invalidConfiguration {
            FileHandle.standardError.write(Data("Error: invalid configuration: \(error.message)\n".utf8))
            throw ExitCode(ExitStatus.invalidConfiguration)
        }
    }
}

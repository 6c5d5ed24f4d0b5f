import ArgumentParser
import Foundation
import Worker

/// The `chaperone` command: the worker and the tools around it.
@main
struct Chaperone: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaperone",
        abstract: "Streaming moderation worker for text-to-image generation.",
        version: BuildInfo.description,
        subcommands: [
            Bench.self,
            WorkerCommand.self,
            Produce.self,
            DevBroker.self,
            Audit.self,
            Generate.self,
            Eval.self,
            DLQ.self,
            Score.self,
            ConfigCommand.self,
            Probe.self,
        ]
    )

    /// Checks that this CPU has the instructions the numeric code was compiled for, then parses
    /// the arguments and runs the subcommand.
    static func main() async {
        if let target = buildTarget, let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            let missing = target.missingFlags(cpuinfo: cpuinfo)
            if !missing.isEmpty {
                FileHandle.standardError.write(Data(("chaperone: " + target.refusal(missing: missing) + "\n").utf8))
                Foundation.exit(1)
            }
        }
        await main(nil)
    }

    /// What the numeric targets of this build were compiled for (Package.swift's target CPU).
    static var buildTarget: BuildTarget? {
        #if CHAPERONE_TARGET_HASWELL
        .haswell
        #else
        nil
        #endif
    }
}

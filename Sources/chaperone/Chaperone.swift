import ArgumentParser
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
}

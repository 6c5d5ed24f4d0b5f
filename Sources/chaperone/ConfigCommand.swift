import ArgumentParser
import Worker

/// `chaperone config keys`: the configuration keys, their environment variables, defaults and
/// meaning, from the one registry the worker reads (``ConfigurationKey/all``).
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the configuration keys.",
        subcommands: [Keys.self])

    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every configuration key as a Markdown table (the README's table is this output).")

        func run() {
            print(ConfigurationKey.markdownTable(), terminator: "")
        }
    }
}

import ArgumentParser
import Foundation

/// `chaperone bench …`: benchmarks that print one JSON object to standard output.
///
/// Speed and memory are measured here, never by timed assertions in tests.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a benchmark and print its results as JSON.",
        subcommands: [
            BenchPipeline.self,
            BenchKafka.self,
            BenchGemm.self,
            BenchUNet.self,
            BenchEncoder.self,
            BenchScorers.self,
            BenchAudit.self,
            BenchMitigations.self,
            BenchEscalation.self,
        ]
    )
}

/// Facts about the machine a benchmark ran on, included in every benchmark's JSON.
struct BenchMachine: Codable, Sendable {
    var cores: Int
    var memoryBytes: UInt64
    var os: String

    static func current() -> BenchMachine {
        let info = ProcessInfo.processInfo
        return BenchMachine(
            cores: info.activeProcessorCount,
            memoryBytes: info.physicalMemory,
            os: info.operatingSystemVersionString
        )
    }
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`), or nil where unknown.
func peakResidentSetBytes() -> UInt64? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if parts.count >= 2, let kib = UInt64(parts[1]) { return kib * 1024 }
    }
    return nil
}

/// Prints a benchmark result as pretty, key-sorted JSON on standard output.
func printBenchJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

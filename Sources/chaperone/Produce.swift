import ArgumentParser
import Foundation
import Kafka

/// `chaperone produce`: sends JSON Lines of requests to the requests topic.
///
/// Each non-empty line is sent as it is (bytes unchanged, so malformed requests can be
/// produced on purpose); the key is the line's `request_id` when it can be read.
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send JSON Lines of generation requests to the requests topic (key = request_id).")

    @Argument(help: "File of JSON Lines; '-' or absent reads standard input.")
    var file: String?

    @Option(help: "Kafka bootstrap servers (CHAPERONE_KAFKA_BOOTSTRAP_SERVERS).")
    var bootstrapServers: String?

    @Option(help: "Topic to send to. Default: chaperone.requests.")
    var topic: String = "chaperone.requests"

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let servers = bootstrapServers ?? environment["CHAPERONE_KAFKA_BOOTSTRAP_SERVERS"] else {
            throw ValidationError("no brokers: pass --bootstrap-servers or set CHAPERONE_KAFKA_BOOTSTRAP_SERVERS")
        }
        let data: Data
        if let file, file != "-" {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: servers))
        var sent = 0
        for line in Self.lines(of: Array(data)) {
            try await producer.send(topic: topic, key: Self.requestID(in: line).map { Array($0.utf8) }, value: line)
            sent += 1
        }
        try await producer.flush()
        try await producer.close()
        FileHandle.standardError.write(Data("sent \(sent) messages to \(topic)\n".utf8))
    }

    /// Splits on LF, dropping a trailing CR and blank lines; bytes are kept as they are.
    static func lines(of bytes: [UInt8]) -> [[UInt8]] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap { slice in
            var line = Array(slice)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            return line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) ? nil : line
        }
    }

    /// The `request_id` string of a JSON object line, if there is one.
    static func requestID(in line: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return nil }
        return object["request_id"] as? String
    }
}

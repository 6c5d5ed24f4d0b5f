import ArgumentParser
import Foundation
import Kafka
import Worker

/// `chaperone produce`: sends JSON Lines of requests to the requests topic.
///
/// Each non-empty line is sent as it is (bytes unchanged, so malformed requests can be
/// produced on purpose); the key is the line's `request_id` when it can be read.
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send JSON Lines of generation requests to the requests topic (key = request_id).",
        discussion: """
            Kafka settings are the worker's (flags, CHAPERONE_* environment, --config file), \
            security included: kafka.security_protocol, kafka.sasl_*, kafka.ssl_* \
            (`chaperone config keys` lists them).
            """)

    @Argument(help: "File of JSON Lines; '-' or absent reads standard input.")
    var file: String?

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "Topic to send to; the same as --requests-topic (CHAPERONE_TOPICS_REQUESTS). Default: chaperone.requests.")
    var topic: String?

    func validate() throws {
        if topic != nil, options.requestsTopic != nil { throw ValidationError("give --topic or --requests-topic, not both") }
    }

    func run() async throws {
        // The worker's configuration (flags, CHAPERONE_* environment, --config file): brokers,
        // topic and Kafka security (SASL, TLS) under the same keys as the worker's.
        var flags = options.flagValues
        if let topic { flags["topics.requests"] = .string(topic) }
        let configuration = try await WorkerConfiguration.loadForCommand(flags: flags, configFile: options.config)
        let topic = configuration.topics.requests
        let data: Data
        if let file, file != "-" {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: configuration.bootstrapServers)
        producerConfiguration.additionalProperties = configuration.kafkaSecurity
        let producer = try KafkaProducer(configuration: producerConfiguration)
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

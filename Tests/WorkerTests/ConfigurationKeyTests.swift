import Foundation
import Testing
import Worker
import TestSupport

/// The key registry is the one list: the README's table is its output, every key is unique and
/// spelled as the loader reads it, and values the registry cannot read are refused by name.
@Suite struct ConfigurationKeyRegistryTests {
    static let readme = TestPaths.repository("README.md")

    @Test func readmeTableIsTheRegistrysTable() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8)
        let begin = "<!-- configuration-keys:begin -->\n", end = "<!-- configuration-keys:end -->"
        let start = try #require(text.range(of: begin)), stop = try #require(text.range(of: end))
        let table = String(text[start.upperBound..<stop.lowerBound])
        #expect(table == ConfigurationKey.markdownTable(),
                "README.md's configuration table differs from `chaperone config keys`; paste that command's output between the markers")
    }

    @Test func keysAreUniqueDottedLowercaseNames() {
        let names = ConfigurationKey.all.map(\.name)
        #expect(Set(names).count == names.count)
        for name in names {
            #expect(name.split(separator: ".").count == 2, "\(name)")
            #expect(name.allSatisfy { $0.isLowercase || $0 == "." || $0 == "_" }, "\(name)")
        }
        #expect(ConfigurationKey.named("kafka.group_id")?.environmentVariable == "CHAPERONE_KAFKA_GROUP_ID")
        #expect(ConfigurationKey.all.filter(\.isSecret).map(\.name).sorted() == ["database.url", "kafka.sasl_password", "kafka.ssl_key_password"])
    }

    @Test func everyKeyWithAPlainDefaultLoadsIt() async throws {
        let configuration = try await WorkerConfiguration.load(environment: [:])
        #expect(configuration.sessionTimeout == .milliseconds(10_000))
        #expect(configuration.stallTimeout == .milliseconds(600_000))
        #expect(configuration.logLevel == .info)
        #expect(configuration.migrationsDirectory == "schemas/migrations")
    }

    @Test(arguments: [
        ("CHAPERONE_KAFKA_MESSAGE_MAX_BYTES", "lots", "kafka.message_max_bytes"),
        ("CHAPERONE_DATABASE_MIGRATE", "perhaps", "database.migrate"),
        ("CHAPERONE_LIMITS_MAX_GUIDANCE_SCALE", "high", "limits.max_guidance_scale"),
    ])
    func anUnreadableValueIsRefusedByName(variable: String, value: String, key: String) async throws {
        let error = await #expect(throws: WorkerError.self) {
            _ = try await WorkerConfiguration.load(environment: [variable: value])
        }
        #expect(error?.description.contains(key) == true, "\(String(describing: error))")
    }

    @Test func anInvalidLogLevelIsRefused() async throws {
        let error = await #expect(throws: WorkerError.self) {
            _ = try await WorkerConfiguration.load(environment: ["CHAPERONE_LOG_LEVEL": "verbose"])
        }
        #expect(error?.description.contains("log.level 'verbose'") == true)
        let configuration = try await WorkerConfiguration.load(environment: ["CHAPERONE_LOG_LEVEL": "warning"])
        #expect(configuration.logLevel == .warning)
    }

    @Test func anUnknownKeyInTheFileIsRefusedByName() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-keys-\(UInt32.random(in: 0...UInt32.max)).json")
        try Data(#"{"kafka": {"group_id": "g", "bootstrap_server": "typo:9092"}}"#.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let error = await #expect(throws: WorkerError.self) {
            _ = try await WorkerConfiguration.load(environment: [:], configFile: url.path)
        }
        #expect(error?.description.contains("'kafka.bootstrap_server'") == true, "\(String(describing: error))")
    }
}

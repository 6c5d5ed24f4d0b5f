import AuditStore
import Configuration
import Contracts
import Moderation
import Foundation
import Kafka
import Logging
import Synchronization
import Testing
import Worker

@Suite struct ConfigurationTests {
    func configFile(_ json: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-config-\(UInt32.random(in: 0...UInt32.max)).json")
        try Data(json.utf8).write(to: url)
        return url.path
    }

    @Test func defaultsApplyWhenNothingIsGiven() async throws {
        let configuration = try await WorkerConfiguration.load(environment: [:])
        #expect(configuration.bootstrapServers == "127.0.0.1:9092")
        #expect(configuration.groupID == "chaperone-workers")
        #expect(configuration.topics == WorkerTopics())
        #expect(configuration.limits == RequestLimits())
        #expect(configuration.databaseURL == nil)
        #expect(configuration.transactionalID == nil)
        #expect(configuration.httpPort == 9464)
        #expect(configuration.maxShutdown == .seconds(30))
    }

    @Test func flagsBeatEnvironmentBeatFileBeatDefaults() async throws {
        let file = try configFile("""
            {"kafka": {"bootstrap_servers": "file:1", "group_id": "file-group"},
             "limits": {"max_steps": 30, "max_pixels": 262144},
             "topics": {"results": "file.results"}}
            """)
        let environment = [
            "CHAPERONE_KAFKA_BOOTSTRAP_SERVERS": "env:1",
            "CHAPERONE_LIMITS_MAX_STEPS": "40",
            "CHAPERONE_DATABASE_URL": "postgresql://env@localhost/db",
        ]
        let configuration = try await WorkerConfiguration.load(
            flags: ["kafka.bootstrap_servers": .string("flag:1")], environment: environment, configFile: file)
        #expect(configuration.bootstrapServers == "flag:1")
        #expect(configuration.limits.maxSteps == 40, "environment beats file")
        #expect(configuration.limits.maxPixels == 262144, "file beats default")
        #expect(configuration.groupID == "file-group")
        #expect(configuration.topics.results == "file.results")
        #expect(configuration.topics.requests == "chaperone.requests")
        #expect(configuration.databaseURL == "postgresql://env@localhost/db")
    }

    @Test func configFileNamedByEnvironment() async throws {
        let file = try configFile(#"{"worker": {"id": "from-file"}, "policy": {"force_safegen": true, "minimum_safety_preset": "strong"}}"#)
        let configuration = try await WorkerConfiguration.load(environment: ["CHAPERONE_CONFIG": file])
        #expect(configuration.workerID == "from-file")
        #expect(configuration.mitigationPolicy == MitigationPolicy(forceSafeGen: true, minimumSafetyPreset: .strong))
    }

    @Test func databaseTimeoutsHaveDefaultsAndAreConfigurable() async throws {
        let defaults = try await WorkerConfiguration.load(environment: [:]).databaseConnection
        #expect(defaults == ConnectionSettings(
            connectTimeout: .seconds(5), statementTimeout: .seconds(10), tcpUserTimeout: .seconds(10),
            keepalives: .init(idleSeconds: 10, intervalSeconds: 5, count: 3)))
        let set = try await WorkerConfiguration.load(environment: [
            "CHAPERONE_DATABASE_CONNECT_TIMEOUT_MS": "1500", "CHAPERONE_DATABASE_STATEMENT_TIMEOUT_MS": "2500",
            "CHAPERONE_DATABASE_TCP_USER_TIMEOUT_MS": "0", "CHAPERONE_DATABASE_KEEPALIVES_IDLE_SECONDS": "30",
            "CHAPERONE_DATABASE_KEEPALIVES_INTERVAL_SECONDS": "7", "CHAPERONE_DATABASE_KEEPALIVES_COUNT": "4",
        ]).databaseConnection
        #expect(set == ConnectionSettings(
            connectTimeout: .milliseconds(1500), statementTimeout: .milliseconds(2500), tcpUserTimeout: nil,
            keepalives: .init(idleSeconds: 30, intervalSeconds: 7, count: 4)))
        let off = try await WorkerConfiguration.load(environment: [
            "CHAPERONE_DATABASE_STATEMENT_TIMEOUT_MS": "0", "CHAPERONE_DATABASE_KEEPALIVES_IDLE_SECONDS": "0",
        ]).databaseConnection
        #expect(off.statementTimeout == nil)
        #expect(off.keepalives == nil)
        for (variable, value) in [("CHAPERONE_DATABASE_CONNECT_TIMEOUT_MS", "-1"), ("CHAPERONE_DATABASE_KEEPALIVES_COUNT", "0")] {
            await #expect {
                try await WorkerConfiguration.load(environment: [variable: value])
            } throws: { error in
                (error as? WorkerError)?.code == .invalidConfiguration
            }
        }
    }

    @Test func retryBackoffIsConfigurableAndChecked() async throws {
        let defaults = try await WorkerConfiguration.load(environment: [:]).retryBackoff
        #expect(defaults == Backoff(initial: .milliseconds(100), maximum: .seconds(2)))
        var set = try await WorkerConfiguration.load(
            environment: ["CHAPERONE_RETRY_INITIAL_BACKOFF_MS": "50", "CHAPERONE_RETRY_MAX_BACKOFF_MS": "300"]).retryBackoff
        #expect((0..<5).map { _ in set.nextDelay() } == [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(300), .milliseconds(300)])
        for bad in [["CHAPERONE_RETRY_INITIAL_BACKOFF_MS": "0"], ["CHAPERONE_RETRY_INITIAL_BACKOFF_MS": "500", "CHAPERONE_RETRY_MAX_BACKOFF_MS": "200"]] {
            do {
                _ = try await WorkerConfiguration.load(environment: bad)
                Issue.record("accepted \(bad)")
            } catch let error as WorkerError {
                #expect(error.message.contains("retry."), "\(error.message)")
            }
        }
    }

    /// `console.*`: the audit console's settings come from the same loader, checked at start.
    @Test func consoleSettingsHaveDefaultsAndAreChecked() async throws {
        let defaults = try await WorkerConfiguration.load(environment: [:]).console
        #expect(defaults == .init(host: "127.0.0.1", port: 8470, tlsCertificate: nil, tlsKey: nil, sessionHours: 8))
        let file = try configFile(#"{"console": {"port": 9000, "session_hours": 2}}"#)
        let set = try await WorkerConfiguration.load(
            flags: ["console.host": .string("0.0.0.0")],
            environment: ["CHAPERONE_CONSOLE_PORT": "8999", "CHAPERONE_CONSOLE_TLS_CERTIFICATE": "c.pem", "CHAPERONE_CONSOLE_TLS_KEY": "k.pem"],
            configFile: file).console
        #expect(set == .init(host: "0.0.0.0", port: 8999, tlsCertificate: "c.pem", tlsKey: "k.pem", sessionHours: 2))
        for (environment, named) in [
            (["CHAPERONE_CONSOLE_SESSION_HOURS": "0"], "console.session_hours"),
            (["CHAPERONE_CONSOLE_PORT": "70000"], "console.port"),
            (["CHAPERONE_CONSOLE_PORT": "eighty"], "console.port"),
            (["CHAPERONE_CONSOLE_TLS_KEY": "k.pem"], "console.tls_certificate"),
        ] {
            do {
                _ = try await WorkerConfiguration.load(environment: environment)
                Issue.record("\(environment) was accepted")
            } catch let error as WorkerError {
                #expect(error.message.contains(named), "\(error.message)")
            }
        }
    }

    @Test func badValuesAreClearErrors() async throws {
        await #expect(throws: WorkerError.self) {
            try await WorkerConfiguration.load(environment: ["CHAPERONE_LOG_FORMAT": "xml"])
        }
        await #expect(throws: WorkerError.self) {
            try await WorkerConfiguration.load(environment: ["CHAPERONE_POLICY_MINIMUM_SAFETY_PRESET": "extreme"])
        }
        do {
            _ = try await WorkerConfiguration.load(environment: [:], configFile: "/nonexistent/chaperone.json")
            Issue.record("a missing config file was accepted")
        } catch let error as WorkerError {
            #expect(error.message.contains("/nonexistent/chaperone.json"))
        }
    }

    @Test func groupMembershipDefaultsToCooperativeStickyWhereSafeAndStaticMembership() async throws {
        let defaults = try await WorkerConfiguration.load(environment: ["CHAPERONE_WORKER_ID": "worker-a"])
        // cooperative-sticky aborts librdkafka before 2.3.0 (its sticky assignor's state
        // assertion); the default falls back to the eager roundrobin there.
        let version = LibRdKafkaVersion.current
        #expect(version.major >= 1 && LibRdKafkaVersion.description.split(separator: ".").count == 3)
        let safe = (version.major, version.minor) >= (2, 3)
        #expect(LibRdKafkaVersion.cooperativeStickyIsSafe == safe)
        #expect(defaults.assignmentStrategy == (safe ? .cooperativeSticky : .roundRobin), "librdkafka \(LibRdKafkaVersion.description)")
        #expect(defaults.groupInstanceID == "worker-a", "static membership under the worker id")
        #expect(defaults.messageMaxBytes == 1_000_000)
        let hostDefault = try await WorkerConfiguration.load(environment: [:])
        #expect(hostDefault.groupInstanceID == hostDefault.workerID)

        let set = try await WorkerConfiguration.load(environment: [
            "CHAPERONE_WORKER_ID": "worker-a", "CHAPERONE_KAFKA_ASSIGNMENT_STRATEGY": "range",
            "CHAPERONE_KAFKA_GROUP_INSTANCE_ID": "pod-3", "CHAPERONE_KAFKA_MESSAGE_MAX_BYTES": "4000000",
        ])
        #expect(set.assignmentStrategy == .range)
        #expect(set.groupInstanceID == "pod-3")
        #expect(set.messageMaxBytes == 4_000_000)
        let roundRobin = try await WorkerConfiguration.load(environment: ["CHAPERONE_KAFKA_ASSIGNMENT_STRATEGY": "roundrobin"])
        #expect(roundRobin.assignmentStrategy == .roundRobin)
        let dynamic = try await WorkerConfiguration.load(environment: ["CHAPERONE_WORKER_ID": "worker-a", "CHAPERONE_KAFKA_GROUP_INSTANCE_ID": ""])
        #expect(dynamic.groupInstanceID == nil, "an empty id turns static membership off")
        let fromFile = try await WorkerConfiguration.load(environment: [:], configFile: try configFile(
            #"{"kafka": {"assignment_strategy": "range", "group_instance_id": "", "message_max_bytes": 20000}}"#))
        #expect(fromFile.assignmentStrategy == .range)
        #expect(fromFile.groupInstanceID == nil)
        #expect(fromFile.messageMaxBytes == 20_000)
    }

    @Test func badMembershipAndSizeSettingsAreClearErrors() async throws {
        for bad in ["sticky", "cooperative_sticky", "RANGE", ""] {
            do {
                _ = try await WorkerConfiguration.load(environment: ["CHAPERONE_KAFKA_ASSIGNMENT_STRATEGY": bad])
                Issue.record("accepted kafka.assignment_strategy '\(bad)'")
            } catch let error as WorkerError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains("kafka.assignment_strategy '\(bad)'"), "\(error.message)")
                #expect(error.message.contains("cooperative-sticky"), "\(error.message)")
            }
        }
        for bad in ["19999", "1000", "0", "-1", "1000000001"] {
            do {
                _ = try await WorkerConfiguration.load(environment: ["CHAPERONE_KAFKA_MESSAGE_MAX_BYTES": bad])
                Issue.record("accepted kafka.message_max_bytes \(bad)")
            } catch let error as WorkerError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains("kafka.message_max_bytes \(bad)"), "\(error.message)")
            }
        }
        for edge in [20_000, 1_000_000_000] {
            let configuration = try await WorkerConfiguration.load(environment: ["CHAPERONE_KAFKA_MESSAGE_MAX_BYTES": "\(edge)"])
            #expect(configuration.messageMaxBytes == edge)
        }
    }

    @Test func workerRefusesToStartWithoutAModel() async throws {
        let configuration = try await WorkerConfiguration.load(environment: [:])
        do {
            _ = try await EngineRegistry.components(factory: nil, configuration: configuration)
            Issue.record("started without a model")
        } catch let error as WorkerError {
            #expect(error.code == .noGenerator)
            #expect(error.message.contains("--model"))
        }
        var withModel = configuration
        withModel.modelPath = "models/sd-v1-5"
        do {
            _ = try await EngineRegistry.components(factory: nil, configuration: withModel)
            Issue.record("started without an engine")
        } catch let error as WorkerError {
            #expect(error.code == .noGenerator)
            #expect(error.message.contains("models/sd-v1-5"))
        }
    }
}

@Suite struct JSONLogHandlerTests {
    @Test func writesOneJSONObjectPerLine() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "chaperone.test") { line in lines.withLock { $0.append(line) } }
        handler.metadata = ["worker_id": "w1"]
        let logger = Logger(label: "chaperone.test", factory: { _ in handler })
        logger.warning("audit unavailable", metadata: ["attempt": "3", "nested": ["a": "b"]])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        #expect(written[0].hasSuffix("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect(object["level"] as? String == "warning")
        #expect(object["message"] as? String == "audit unavailable")
        #expect(object["label"] as? String == "chaperone.test")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["worker_id"] as? String == "w1")
        #expect(metadata["attempt"] as? String == "3")
        #expect((metadata["nested"] as? [String: String]) == ["a": "b"])
        #expect((object["ts"] as? String)?.hasSuffix("Z") == true)
    }
}

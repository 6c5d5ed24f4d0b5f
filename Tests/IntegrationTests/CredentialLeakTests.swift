import Foundation
import Testing

extension FaultTests {
    /// Credentials never appear in a worker's logs (text and JSON, trace level, through
    /// reconnects, rejections and an unreachable database) nor on /metrics, /ready or /health.
    @Suite struct CredentialLeakTests {
        static let databasePassword = "db-Secr3t-7f1dQ"
        static let saslPassword = "kafka-Secr3t-9a2cQ"
        static let sslKeyPassword = "key-Secr3t-55e0Q"

        /// Every form a secret could leak in: as is, percent-encoded, base64.
        static func forms(_ secret: String) -> [String] {
            [secret, secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? secret, Data(secret.utf8).base64EncodedString(),
             String(secret.dropLast(2))]
        }

        static func leaks(in text: String) -> [String] {
            [databasePassword, saslPassword, sslKeyPassword].flatMap(forms).filter { text.contains($0) }
        }

        static func withPassword(_ url: String, port: Int? = nil) throws -> String {
            guard var components = URLComponents(string: url) else { throw IntegrationError("cannot parse \(url)") }
            components.user = components.user ?? "postgres"
            components.password = databasePassword
            if let port { components.port = port }
            guard let result = components.string else { throw IntegrationError("cannot build a URL from \(url)") }
            return result
        }

        @Test(.timeLimit(.minutes(4)))
        func credentialsNeverAppearInLogsOrMetrics() async throws {
            let database = try await FreshDatabase.create(prefix: "chaperone_creds")
            var options = FaultRun.Options(name: "creds")
            options.workers = 0
            options.statusPorts = true
            options.databaseURL = try Self.withPassword(database.url)
            options.environment["CHAPERONE_LOG_LEVEL"] = "trace"
            let run = try await FaultRun(options)
            do {
                #expect(run.environment["CHAPERONE_DATABASE_URL"]?.contains(Self.databasePassword) == true)
                // A working worker: JSON logs; Kafka security settings with secrets that a
                // plaintext listener ignores (librdkafka still holds them).
                try run.addWorker(overrides: [
                    "CHAPERONE_LOG_FORMAT": "json",
                    "CHAPERONE_KAFKA_SASL_USERNAME": "chaperone",
                    "CHAPERONE_KAFKA_SASL_PASSWORD": Self.saslPassword,
                    "CHAPERONE_KAFKA_SSL_KEY_PASSWORD": Self.sslKeyPassword,
                ])
                // A worker speaking SASL/PLAIN with the password (text logs), whether or not the
                // mock broker accepts it.
                try run.addWorker(overrides: [
                    "CHAPERONE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                    "CHAPERONE_KAFKA_SASL_MECHANISM": "PLAIN",
                    "CHAPERONE_KAFKA_SASL_USERNAME": "chaperone",
                    "CHAPERONE_KAFKA_SASL_PASSWORD": Self.saslPassword,
                ])
                // A worker whose database is unreachable: it logs its retries.
                try run.addWorker(overrides: ["CHAPERONE_DATABASE_URL": try Self.withPassword(database.url, port: try freeLoopbackPort())])

                try await run.produceValid(6, prefix: "creds")
                try await run.produce(Array("{\"request_id\": \"creds-bad\", \"prompt\": 5}".utf8))
                #expect(try await run.watch(until: { $0.messages.count >= 3 }, timeout: .seconds(60)), "work flows\n\(run.logTails)")
                try await FaultTests.PostgresFaultTests.terminateSessions(of: database.name, adminURL: try IntegrationEnvironment.postgresURL())
                try await run.produceValid(3, prefix: "after-kill")
                try await run.watch(for: .seconds(2))

                var exposed: [String] = []
                for index in run.workers.indices {
                    for path in ["/metrics", "/ready", "/health"] {
                        if let answer = await run.status(index, path) {
                            exposed.append(answer.body)
                            #expect(Self.leaks(in: answer.body).isEmpty, "worker \(index) \(path) shows a secret")
                        }
                    }
                }
                #expect(exposed.contains { $0.contains("chaperone_") }, "the metrics were read")
                let unreachable = run.workers[2].logTail
                #expect(unreachable.contains("PostgreSQL unreachable"), "the unreachable database is logged: \(unreachable.suffix(400))")
                for worker in run.workers {
                    let log = (try? String(contentsOf: worker.logURL, encoding: .utf8)) ?? ""
                    #expect(!log.isEmpty)
                    #expect(Self.leaks(in: log).isEmpty, "\(worker.id)'s log shows a secret: \(Self.leaks(in: log)) in \(worker.logURL.path)")
                }
                for worker in run.workers { _ = await worker.terminate(timeout: .seconds(10)) }
                for worker in run.workers {
                    let log = (try? String(contentsOf: worker.logURL, encoding: .utf8)) ?? ""
                    #expect(Self.leaks(in: log).isEmpty, "\(worker.id)'s log shows a secret after shutdown")
                }
            } catch { Issue.record(error) }
            await run.finish()
            await database.drop()
        }
    }
}

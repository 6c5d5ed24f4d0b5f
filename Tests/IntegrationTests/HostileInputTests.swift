import AuditStore
import Contracts
import Foundation
import Testing

extension FaultTests {
    /// Hostile input end to end: prompts with SQL, control characters, huge Unicode, null bytes,
    /// lone surrogates and megabyte strings end up either stored exactly in the audit row (and the
    /// result) or dead-lettered with the reason the validator gives, never lost and never stalling
    /// the partition.
    @Suite struct HostileInputTests {
        /// A request JSON object with `prompt` (and optionally more fields) as raw JSON text.
        static func request(_ id: String, promptJSON: String, extra: String = "") -> [UInt8] {
            Array("""
                {"request_id": "\(id)", "tenant": "acme", "prompt": \(promptJSON), "negative_prompt": "", "seed": 1, "width": 64, \
                "height": 64, "steps": 2, "guidance_scale": 7.5, "scheduler": "pndm"\(extra)}
                """.utf8)
        }

        /// A request with `prompt` encoded by JSONEncoder (so any Unicode string is valid JSON).
        static func request(_ id: String, prompt: String, negativePrompt: String = "") -> [UInt8] {
            var request = GenerationRequest(requestID: id, tenant: "acme", prompt: prompt, seed: 1, width: 64, height: 64, steps: 2)
            request.negativePrompt = negativePrompt
            return Array(try! JSONEncoder().encode(request))
        }

        static func hostileMessages() -> [(name: String, value: [UInt8])] {
            let combining = String(repeating: "e\u{301}", count: 1000)  // 2000 scalars: exactly at the limit
            let emoji = String(repeating: "👩‍👩‍👧‍👦", count: 285)  // 7 scalars each: 1995 scalars, 7 KB
            let megabytePrompt = String(repeating: "a", count: 990_000)
            return [
                ("sql-1", request("sql-1", prompt: "Robert'); DROP TABLE decisions; --", negativePrompt: "' OR '1'='1")),
                ("sql-2", request("sql-2", prompt: "x\\'; DELETE FROM decisions WHERE 1=1; SELECT pg_sleep(10); --$$ $tag$")),
                ("sql-3", request("sql-3", prompt: "%s %d %n {0} ${jndi:ldap://x} <script>alert(1)</script> \\x00 \\\\")),
                ("ctl-bell", request("ctl-bell", prompt: "a cat\u{7}\u{1B}[31m red")),
                ("ctl-tab-newline", request("ctl-tab-newline", prompt: "a cat\tin a\nhat\r\n")),
                ("ctl-del", request("ctl-del", prompt: "a cat\u{7F}")),
                ("ctl-c1", request("ctl-c1", prompt: "a cat\u{85}\u{9B}")),
                ("bidi", request("bidi", prompt: "a cat \u{202E}tac a\u{202C} \u{200B}\u{FEFF}")),
                ("unicode-combining", request("unicode-combining", prompt: combining)),
                ("unicode-emoji", request("unicode-emoji", prompt: emoji)),
                ("unicode-over", request("unicode-over", prompt: combining + "e")),
                ("unicode-planes", request("unicode-planes", prompt: "\u{10FFFF}\u{FFFF}\u{E000}\u{1D11E}𓀀")),
                ("nul-escaped", request("nul-escaped", promptJSON: "\"a\\u0000b\"")),
                ("nul-raw", Array("{\"request_id\": \"nul-raw\", \"prompt\": \"a".utf8) + [0] + Array("b\"}".utf8)),
                ("surrogate", request("surrogate", promptJSON: "\"\\ud800 lone\"")),
                ("surrogate-pair", request("surrogate-pair", promptJSON: "\"\\ud83d\\ude00 ok\"")),
                ("megabyte-prompt", request("megabyte-prompt", prompt: megabytePrompt)),
                ("megabyte-padding", request("megabyte-padding", prompt: "a cat") + Array(repeating: UInt8(ascii: " "), count: 1_000_000)),
                ("deep-nesting", Array((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)),
                ("huge-number", request("huge-number", promptJSON: "\"a cat\"", extra: ", \"seed_extra\": 1e999999")),
            ]
        }

        @Test(.timeLimit(.minutes(4)))
        func hostileRequestsAreStoredExactlyOrDeadLettered() async throws {
            var options = FaultRun.Options(name: "hostile")
            options.workers = 2
            options.partitions = 2
            let run = try await FaultRun(options)
            do {
                let validator = RequestValidator(limits: options.limits)
                var sent: [String: (name: String, value: [UInt8])] = [:]
                for message in Self.hostileMessages() {
                    sent[try await run.produce(message.value)] = message
                }
                try await run.produceValid(4, prefix: "plain")
                try await run.waitForAll(timeout: .seconds(90))
                let report = try await run.verify()
                let audit = try await AuditRepository.connect(url: run.databaseURL)
                var outcomes: [String] = []
                for (id, message) in sent.sorted(by: { $0.key < $1.key }) {
                    guard let row = try await audit.decision(requestID: id), let published = run.messages[id]?.first else { continue }
                    switch validator.decode(message.value) {
                    case .success(let request):
                        #expect(row.decision != .rejected, "\(message.name) is valid but was rejected")
                        #expect(row.prompt == request.prompt, "\(message.name): the audit row keeps the prompt exactly")
                        #expect(row.negativePrompt == request.negativePrompt, "\(message.name): the audit row keeps the negative prompt exactly")
                        let result = try JSONDecoder().decode(ModerationResult.self, from: Data(published))
                        #expect(result.requestID == request.requestID)
                        outcomes.append("\(message.name)=\(row.decision.rawValue)")
                    case .failure(let rejection):
                        #expect(row.decision == .rejected, "\(message.name) is invalid (\(rejection.code.rawValue)) but was \(row.decision)")
                        #expect(row.rawRequest == message.value, "\(message.name): the audit row keeps the original bytes")
                        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(published))
                        #expect(envelope.reasonCode == rejection.code, "\(message.name): DLQ reason \(envelope.reasonCode) != \(rejection.code)")
                        #expect(!envelope.reasonMessage.isEmpty)
                        let original = Data(base64Encoded: envelope.originalValue).map(Array.init) ?? []
                        if message.value.count > DLQEnvelope.maximumOriginalBytes {
                            #expect(envelope.originalTruncated == true && envelope.originalSize == message.value.count, "\(message.name): a huge original is cut and marked")
                            #expect(envelope.originalSHA256 == SHA256.hex(message.value))
                            #expect(original == Array(message.value.prefix(DLQEnvelope.maximumOriginalBytes)), "\(message.name): the DLQ carries the start of the original")
                        } else {
                            #expect(envelope.originalTruncated == nil && original == message.value, "\(message.name): the DLQ carries the original bytes")
                        }
                        #expect(published.count < 1_000_000, "\(message.name): the envelope fits a default Kafka message")
                        outcomes.append("\(message.name)=\(rejection.code.rawValue)")
                    }
                }
                await audit.connection.close()
                print("hostile input: \(report)\n  \(outcomes.joined(separator: " "))")
            } catch { Issue.record(error) }
            await run.finish()
        }
    }
}

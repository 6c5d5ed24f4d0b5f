import AuditStore
import Contracts
import Foundation
import Testing
import Worker

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

extension FaultTests.HostileInputTests {
    /// The string fields and keys of a request, each a place a producer can put any text.
    static let stringPlaces: [(name: String, build: @Sendable (String, String) -> String)] = [
        ("request_id", { id, bad in #"{"request_id": "\#(bad)\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}}"# }),
        ("tenant", { id, bad in #"{"request_id": "\#(id)", "tenant": "ac\#(bad)me", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}}"# }),
        ("prompt", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a \#(bad) cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}}"# }),
        ("negative_prompt", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "x\#(bad)", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}}"# }),
        ("scheduler", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}, "scheduler": "pn\#(bad)dm"}"# }),
        ("concept", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {"semantic_edits": [{"concept": "bl\#(bad)ood"}]}}"# }),
        ("sld_concept", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {"safety_guidance": {"preset": "weak", "concept": "n\#(bad)"}}}"# }),
        ("preset", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {"safety_guidance": {"preset": "we\#(bad)ak"}}}"# }),
        ("fairness_family", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {"fairness": {"family": "gen\#(bad)der", "proportions": {"female": 0.5, "male": 0.5}}}}"# }),
        ("fairness_key", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {"fairness": {"family": "gender", "proportions": {"fe\#(bad)male": 0.5, "male": 0.5}}}}"# }),
        ("switch_prompt", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {"attribute_switching": {"switch_prompt": "a \#(bad)dog", "tau": 800}}}"# }),
        ("attribute_key_number", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}, "attributes": {"a\#(bad)": 1}}"# }),
        ("attribute_key_string", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}, "attributes": {"a\#(bad)": "v"}}"# }),
        ("attribute_value", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}, "attributes": {"group": "v\#(bad)"}}"# }),
        ("unknown_key", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {}, "x\#(bad)y": 1}"# }),
        ("nested_unknown_key", { id, bad in #"{"request_id": "\#(id)", "tenant": "acme", "prompt": "a cat", "negative_prompt": "", "scheduler": "pndm", "seed": 1, "width": 64, "height": 64, "steps": 2, "guidance_scale": 7.5, "mitigations": {"q\#(bad)": true}}"# }),
    ]

    /// Text a database or a JSON reader may refuse: escaped NUL, lone surrogates, a raw NUL
    /// byte, bytes that are not UTF-8.
    static let badTexts: [(name: String, text: String)] = [
        ("nul", #"\u0000"#), ("high", #"\ud800"#), ("low", #"\udc00"#), ("pair-reversed", #"\udc00\ud800"#),
        ("raw-nul", "\u{0}"), ("c1", #"\u0085"#),
    ]

    /// Every string field and key with each bad text, plus a 2 MB prompt and request ids
    /// reused across tenants, through real workers and the real database: every message ends
    /// with one audit row and its published copy (the invariant), none stalls its partition.
    @Test(.timeLimit(.minutes(5)))
    func badTextInEveryFieldAndKeyEndsWithAnAuditRow() async throws {
        var options = FaultRun.Options(name: "hostile-fields")
        options.workers = 2
        options.partitions = 3
        options.steps = 2
        options.stepDelayMilliseconds = 1
        let run = try await FaultRun(options)
        do {
            var kinds = 0
            var bytes: [String: [UInt8]] = [:]
            for place in Self.stringPlaces {
                for bad in Self.badTexts {
                    let value = Array(place.build("hf-\(place.name)-\(bad.name)".replacingOccurrences(of: "_", with: "-"), bad.text).utf8)
                    let id = try await run.produce(value)
                    bytes[id] = value
                    kinds += 1
                }
                // Bytes that are not UTF-8 in the same place.
                var invalid = Array(place.build("hf-\(place.name)-latin1".replacingOccurrences(of: "_", with: "-"), "XX").utf8)
                if let at = invalid.firstIndex(of: UInt8(ascii: "X")) { invalid[at] = 0xFF; invalid[at + 1] = 0xC0 }
                bytes[try await run.produce(invalid)] = invalid
                kinds += 1
            }
            // A 2 MB prompt.
            let huge = Array(#"{"request_id": "hf-2mb", "tenant": "acme", "prompt": ""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 2_000_000) + Array(#"", "seed": 1}"#.utf8)
            try await run.produce(huge)
            // Request ids reused across tenants, with other content: the first keeps the id, the
            // reuse is rejected under its position (same key, same partition: ordered).
            try await run.produce(run.validRequest("hf-shared-1", prompt: "a lighthouse at dawn"))
            try await run.produce(run.validRequest("hf-shared-2", prompt: "a mountain lake"))
            var reuse = GenerationRequest(requestID: "hf-shared-1", tenant: "globex", prompt: "a harbour", seed: 5, width: 64, height: 64, steps: 2)
            reuse.negativePrompt = ""
            let reusedID = try await run.produce(Array(try JSONEncoder().encode(reuse)), storedUnderPosition: true)
            var reuseRejected = GenerationRequest(requestID: "hf-shared-2", tenant: "acme", prompt: "a\u{7}bell", seed: 5, width: 64, height: 64, steps: 2)
            reuseRejected.negativePrompt = ""
            // An invalid message under a taken id: also rejected under its own position.
            let reusedInvalidID = try await run.produce(Array(try JSONEncoder().encode(reuseRejected)), storedUnderPosition: true)
            kinds += 4
            try await run.produceValid(3, prefix: "hf-plain")

            let start = ContinuousClock.now
            try await run.waitForAll(timeout: .seconds(120))
            let report = try await run.verify()
            let audit = try await AuditRepository.connect(url: run.databaseURL)
            let reused = try #require(try await audit.decision(requestID: reusedID))
            #expect(reused.decision == .rejected && reused.reasonsJSON.contains("duplicate_request_id"))
            let first = try #require(try await audit.decision(requestID: "hf-shared-1"))
            #expect(first.tenant == "acme" && first.decision != .rejected, "the first request keeps its id and answer")
            let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(try #require(run.messages[reusedID]?.first)))
            #expect(envelope.reasonCode == .duplicateRequestID && envelope.firstRequest?.auditID == "hf-shared-1")
            let reusedInvalid = try #require(try await audit.decision(requestID: reusedInvalidID))
            #expect(reusedInvalid.reasonsJSON.contains("duplicate_request_id"))
            let stalls = bytes.keys.filter { run.messages[$0] == nil }.count
            #expect(stalls == 0)
            await audit.connection.close()
            print("hostile fields: \(kinds) kinds, stalls=\(stalls), without audit row=\(report.lost), in \(ContinuousClock.now - start): \(report)")
        } catch { Issue.record(error) }
        await run.finish()
    }

    /// A message that crashes every worker that takes it (the test generator traps on a
    /// marker) is quarantined on its `limits.max_attempts`-th delivery: a `poison` audit row
    /// under its position and a DLQ envelope, and the partition moves on.
    @Test(.timeLimit(.minutes(4)))
    func aMessageThatCrashesTheWorkerIsQuarantinedAsPoison() async throws {
        var options = FaultRun.Options(name: "poison")
        options.workers = 1
        options.partitions = 1
        options.stepDelayMilliseconds = 5
        options.environment["CHAPERONE_LIMITS_MAX_ATTEMPTS"] = "3"
        let run = try await FaultRun(options)
        do {
            try await run.produceValid(2, prefix: "before")
            let poisonID = try await run.produce(run.validRequest("deadly", prompt: "a cat chaperone-test-trap"), storedUnderPosition: true)
            try await run.produceValid(3, prefix: "after")
            var crashes = 0
            let done = try await run.watch(until: { run in
                if !run.workers[0].isRunning {
                    crashes += 1
                    try run.restart(0)
                }
                return run.missing.isEmpty
            }, timeout: .seconds(150))
            #expect(done, "every message ends: \(run.missing)\n\(run.logTails)")
            #expect(crashes == 2, "deliveries 1 and 2 crash, the third quarantines")
            let report = try await run.verify()
            let audit = try await AuditRepository.connect(url: run.databaseURL)
            let row = try #require(try await audit.decision(requestID: poisonID))
            #expect(row.decision == .rejected && row.reasonsJSON.contains("poison"))
            #expect(try await audit.decision(requestID: "deadly") == nil)
            let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(try #require(run.messages[poisonID]?.first)))
            #expect(envelope.reasonCode == .poison && envelope.attempts == 3)
            await audit.connection.close()
            print("poison: \(crashes) crashes, then quarantined; \(report)")
        } catch { Issue.record(error) }
        await run.finish()
    }

    /// A 1024x1024 result (3 MB as the test worker's uncompressed PNG) with librdkafka's default
    /// 1 MB message size: the image goes to the audit database's image store, the result names
    /// it (image_ref, image_sha256) and fits the message.
    @Test(.timeLimit(.minutes(3)))
    func aFullSizeResultGoesToTheImageStore() async throws {
        var options = FaultRun.Options(name: "large-result")
        options.workers = 1
        options.partitions = 1
        options.steps = 2
        let run = try await FaultRun(options)
        do {
            var request = GenerationRequest(requestID: "big-1", tenant: "acme", prompt: "a lighthouse chaperone-test-full-size", seed: 3,
                                            width: 1024, height: 1024, steps: 2)
            request.negativePrompt = ""
            try await run.produce(Array(try JSONEncoder().encode(request)))
            try await run.produceValid(2, prefix: "small")
            try await run.waitForAll(timeout: .seconds(90))
            try await run.verify()
            let payload = try #require(run.messages["big-1"]?.first)
            #expect(payload.count < 1_000_000)
            let result = try JSONDecoder().decode(ModerationResult.self, from: Data(payload))
            #expect(result.image == nil)
            let sha = try #require(result.imageSHA256)
            #expect(result.imageRef == "postgresql:images/\(sha)")
            let audit = try await AuditRepository.connect(url: run.databaseURL)
            let png = try #require(try await audit.image(sha256: sha))
            #expect(SHA256.hex(png) == sha && png.count > 3_000_000, "the stored image is the full-size PNG")
            let small = try JSONDecoder().decode(ModerationResult.self, from: Data(try #require(run.messages["small-0000"]?.first)))
            #expect(small.image != nil && small.imageRef == nil, "small results stay inline")
            await audit.connection.close()
        } catch { Issue.record(error) }
        await run.finish()
    }

    /// `/health` turns 503 while the request in hand makes no progress for the stall timeout,
    /// and 200 again once it moves on; `/metrics` shows the step and the request in flight.
    @Test(.timeLimit(.minutes(3)))
    func healthReportsAStalledGeneration() async throws {
        var options = FaultRun.Options(name: "stall")
        options.workers = 1
        options.partitions = 1
        options.steps = 4
        options.stepDelayMilliseconds = 5
        options.statusPorts = true
        options.environment["CHAPERONE_HEALTH_STALL_TIMEOUT_MS"] = "1500"
        let run = try await FaultRun(options)
        do {
            _ = try await run.waitForReady(0, code: 200)
            #expect(await run.status(0, "/health")?.code == 200)
            // The build and the process, as Prometheus clients export them.
            let exposition = await run.status(0, "/metrics")?.body ?? ""
            // The worker binary names its own build (a commit, `+dirty` for a changed tree).
            let buildInfo = exposition.split(separator: "\n").first { $0.hasPrefix("chaperone_build_info{") }.map(String.init) ?? ""
            #expect(buildInfo.hasPrefix(#"chaperone_build_info{version="\#(BuildInfo.version)",commit=""#) && buildInfo.hasSuffix("} 1.0"),
                    "\(exposition.prefix(2000))")
            let commit = buildInfo.split(separator: "\"").dropFirst(3).first.map { $0.replacingOccurrences(of: "+dirty", with: "") } ?? ""
            #expect(commit.count == 40 && commit.allSatisfy(\.isHexDigit), "\(buildInfo)")
            for name in ["process_resident_memory_bytes", "process_cpu_seconds_total", "process_start_time_seconds", "process_open_fds"] {
                let value = exposition.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
                #expect((value ?? 0) > 0, "\(name) = \(String(describing: value))")
            }
            try await run.produce(run.validRequest("stuck", prompt: "a cat chaperone-test-stall"))
            var stalled: (code: Int, body: String)?
            var inFlight = false
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline, stalled == nil {
                if let health = await run.status(0, "/health"), health.code == 503 { stalled = health }
                if let metrics = await run.status(0, "/metrics"), metrics.body.contains("chaperone_in_flight_requests 1") { inFlight = true }
                try await run.watch(for: .milliseconds(100))
            }
            #expect(stalled?.body.contains("no progress") == true, "health while stalled: \(String(describing: stalled))")
            #expect(inFlight, "/metrics shows the request in flight")
            try await run.waitForAll(timeout: .seconds(30))
            #expect(await run.status(0, "/health")?.code == 200, "live again once the request moved on")
            try await run.verify()
        } catch { Issue.record(error) }
        await run.finish()
    }
}

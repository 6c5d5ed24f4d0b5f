import AuditStore
import Contracts
import Moderation
import Foundation
import Logging
import Testing
import Worker

@Suite struct RequestProcessorTests {
    func processor(
        audit: MemoryAuditLog = MemoryAuditLog(), publisher: RecordingPublisher = RecordingPublisher(),
        generator: CountingGenerator = CountingGenerator(), health: WorkerHealth = WorkerHealth(), keepWithheldImages: Bool = true,
        fairness: (any FairnessAssigning)? = nil
    ) -> RequestProcessor {
        let policy = ThresholdPolicy(rules: [.init(scorer: "keyword", label: "violence", censorAt: 0.5, blockAt: 0.9)])
        return RequestProcessor(
            settings: .init(workerID: "w1", backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(5)),
                            keepWithheldImages: keepWithheldImages),
            components: .init(generator: generator, scorer: KeywordScorer(), policy: policy, censor: BlackCensor(), audit: audit, publisher: publisher,
                              fairness: fairness),
            health: health, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test func allowedRequestIsAuditedPublishedAndCommittedInThatOrder() async throws {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let outcome = await processor(audit: audit, publisher: publisher).process(message(requestBytes("r1"), offset: 4))
        let row = try #require(audit.all["r1"])
        #expect(row.decision == .allow)
        #expect(row.imageSHA256 == SHA256.hex(Array("png:a lighthouse:7".utf8)))
        #expect(publisher.recorded == [
            .publish(topic: "chaperone.results", key: "r1", payload: row.publishedPayload),
            .commit(SourcePosition(topic: "chaperone.requests", partition: 0, offset: 4)),
        ])
        #expect(outcome == .delivered(row, republished: false))
        let result = try JSONDecoder().decode(ModerationResult.self, from: Data(row.publishedPayload))
        #expect(result.decision == .allow)
        #expect(result.generatedImageSHA256 == row.imageSHA256)
        #expect(result.image.flatMap { Data(base64Encoded: $0) } == Data("png:a lighthouse:7".utf8))
        #expect(result.imageSHA256 == row.imageSHA256)
    }

    /// Fair Diffusion over the tenant's stream: requests that reuse one seed still alternate
    /// 50/50, the result and audit row record each request's place in the stream, and a
    /// redelivered request keeps its value. Without streams the value is drawn from the seed.
    @Test func fairDiffusionValuesComeFromTheTenantsStream() async throws {
        let audit = MemoryAuditLog()
        let streams = MemoryFairnessStreams()
        let p = processor(audit: audit, fairness: streams)
        func request(_ id: String, tenant: String = "acme") throws -> [UInt8] {
            var request = GenerationRequest(requestID: id, tenant: tenant, prompt: "a doctor", seed: 7, width: 64, height: 64, steps: 4)
            request.mitigations.fairness = FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5])
            return Array(try JSONEncoder().encode(request))
        }
        func fairness(_ id: String) throws -> AppliedFairness {
            let result = try JSONDecoder().decode(ModerationResult.self, from: Data(try #require(audit.all[id]).publishedPayload))
            return try #require(result.mitigations.fairness)
        }
        for i in 0..<4 { _ = await p.process(message(try request("f\(i)"), offset: Int64(i))) }
        #expect(try (0..<4).map { try fairness("f\($0)").value } == ["female", "male", "female", "male"])
        #expect(try (0..<4).map { try fairness("f\($0)").streamIndex } == [0, 1, 2, 3])
        #expect(try fairness("f0").draw == nil)
        #expect(try #require(audit.all["f1"]).mitigationsJSON?.contains(#""stream_index":1"#) == true)
        // Another tenant starts its own stream.
        _ = await p.process(message(try request("g0", tenant: "globex"), offset: 9))
        #expect(try fairness("g0").streamIndex == 0)
        // The same request id again (a redelivery whose row was lost) keeps its assignment.
        #expect(try await streams.assignFairness(requestID: "f1", tenant: "acme", target: FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5]))
            == FairnessAssignment(family: "gender", value: "male", streamIndex: 1))
        // No streams (a worker without them): drawn from the seed, as recorded.
        let seeded = MemoryAuditLog()
        _ = await processor(audit: seeded).process(message(try request("s0")))
        let result = try JSONDecoder().decode(ModerationResult.self, from: Data(try #require(seeded.all["s0"]).publishedPayload))
        #expect(result.mitigations.fairness?.draw == 0.5 && result.mitigations.fairness?.streamIndex == nil)
    }

    @Test func requestAttributesReachTheAuditRow() async throws {
        let audit = MemoryAuditLog()
        var request = GenerationRequest(requestID: "attr1", tenant: "acme", prompt: "a lighthouse", seed: 7, width: 64, height: 64, steps: 4)
        request.attributes = ["group": "b", "campaign": "spring"]
        _ = await processor(audit: audit).process(message(Array(try JSONEncoder().encode(request))))
        #expect(try #require(audit.all["attr1"]).attributesJSON == #"{"campaign":"spring","group":"b"}"#)
        _ = await processor(audit: audit).process(message(requestBytes("plain")))
        #expect(try #require(audit.all["plain"]).attributesJSON == nil)
    }

    @Test func decisionsCensorAndBlock() async throws {
        let audit = MemoryAuditLog()
        let p = processor(audit: audit)
        _ = await p.process(message(requestBytes("c1", prompt: "a fight")))
        _ = await p.process(message(requestBytes("b1", prompt: "gore")))
        let censored = try JSONDecoder().decode(ModerationResult.self, from: Data(try #require(audit.all["c1"]).publishedPayload))
        #expect(censored.decision == .censor)
        #expect(censored.image == Data("censored".utf8).base64EncodedString())
        #expect(censored.reasons == [DecisionReason(scorer: "keyword", label: "violence", score: 0.6, threshold: 0.5)])
        let blocked = try JSONDecoder().decode(ModerationResult.self, from: Data(try #require(audit.all["b1"]).publishedPayload))
        #expect(blocked.decision == .block)
        #expect(blocked.image == nil)
        #expect(blocked.imageSHA256 == nil)
        #expect(blocked.generatedImageSHA256 == SHA256.hex(Array("png:gore:7".utf8)))
    }

    @Test func theImageADecisionWithholdsIsKeptForReviewers() async throws {
        let audit = MemoryAuditLog()
        let p = processor(audit: audit)
        for (id, prompt) in [("a1", "a lighthouse"), ("c1", "a fight"), ("b1", "gore")] {
            _ = await p.process(message(requestBytes(id, prompt: prompt)))
        }
        // The blocked image and the censored one's original, under the rows' digests; nothing
        // for the allowed request, whose image was published.
        let generated = ["c1": Array("png:a fight:7".utf8), "b1": Array("png:gore:7".utf8)]
        #expect(audit.withheld.withLock { $0 } == Dictionary(uniqueKeysWithValues: generated.values.map { (SHA256.hex($0), $0) }))
        #expect(try #require(audit.all["b1"]).imageSHA256 == SHA256.hex(generated["b1"]!))
        #expect(try #require(audit.all["c1"]).imageSHA256 == SHA256.hex(generated["c1"]!))

        // images.keep_withheld = false keeps none.
        let none = MemoryAuditLog()
        _ = await processor(audit: none, keepWithheldImages: false).process(message(requestBytes("b2", prompt: "gore")))
        #expect(try #require(none.all["b2"]).decision == .block)
        #expect(none.withheld.withLock { $0.isEmpty })
    }

    @Test func aWithheldImageTheDatabaseRefusesDoesNotStopTheDecision() async throws {
        let audit = MemoryAuditLog()
        audit.refuseWithheld.withLock { $0 = true }
        let publisher = RecordingPublisher()
        let outcome = await processor(audit: audit, publisher: publisher).process(message(requestBytes("b1", prompt: "gore")))
        let row = try #require(audit.all["b1"])
        #expect(row.decision == .block && outcome == .delivered(row, republished: false))
        #expect(publisher.recorded.contains(.publish(topic: "chaperone.results", key: "b1", payload: row.publishedPayload)))
        #expect(audit.withheld.withLock { $0.isEmpty })
    }

    @Test func anUnreachableDatabaseIsWaitedForBeforeKeepingTheWithheldImage() async throws {
        let audit = MemoryAuditLog()
        let p = processor(audit: audit)
        // The lookup, the start count and the withheld image fail once each way through.
        audit.failuresLeft.withLock { $0 = 3 }
        _ = await p.process(message(requestBytes("b1", prompt: "gore")))
        #expect(try #require(audit.all["b1"]).decision == .block)
        #expect(audit.withheld.withLock { $0.keys.sorted() } == [SHA256.hex(Array("png:gore:7".utf8))])
    }

    @Test func redeliveryRepublishesIdenticalBytesWithoutGeneratingAgain() async throws {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let generator = CountingGenerator()
        let p = processor(audit: audit, publisher: publisher, generator: generator)
        _ = await p.process(message(requestBytes("r1"), offset: 1))
        let second = await p.process(message(requestBytes("r1"), offset: 1))
        #expect(generator.calls.withLock { $0 } == 1)
        let publishes = publisher.recorded.compactMap { call -> [UInt8]? in
            if case .publish(_, _, let payload) = call { return payload }
            return nil
        }
        #expect(publishes.count == 2)
        #expect(publishes[0] == publishes[1])
        #expect(second == .delivered(try #require(audit.all["r1"]), republished: true))
    }

    @Test func rejectedRequestGoesToDLQWithAuditRow() async throws {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let bad = Array(#"{"request_id": "r9", "tenant": "acme"}"#.utf8)
        _ = await processor(audit: audit, publisher: publisher).process(message(bad, partition: 3, offset: 11))
        let row = try #require(audit.all["r9"])
        #expect(row.decision == .rejected)
        #expect(row.rawRequest == bad)
        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(row.publishedPayload))
        #expect(envelope.reasonCode == .missingField)
        #expect(envelope.originalValue == Data(bad).base64EncodedString())
        #expect(envelope.source == SourcePosition(topic: "chaperone.requests", partition: 3, offset: 11))
        #expect(publisher.recorded.first == .publish(topic: "chaperone.requests.dlq", key: "r9", payload: row.publishedPayload))
    }

    @Test func unreadableRequestUsesTheSyntheticID() async throws {
        let audit = MemoryAuditLog()
        _ = await processor(audit: audit).process(message([0xff, 0xfe], partition: 1, offset: 2))
        let row = try #require(audit.all["kafka:chaperone.requests:1:2"])
        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(row.publishedPayload))
        #expect(envelope.requestID == nil)
        #expect(envelope.reasonCode == .invalidUTF8)
    }

    @Test func auditOutageIsRetriedAndNothingIsCommittedBeforeTheRow() async throws {
        let audit = MemoryAuditLog()
        audit.failuresLeft.withLock { $0 = 3 }
        let publisher = RecordingPublisher()
        publisher.publishFailuresLeft.withLock { $0 = 2 }
        let health = WorkerHealth()
        health.setRunning(true)
        _ = await processor(audit: audit, publisher: publisher, health: health).process(message(requestBytes("r1")))
        #expect(audit.all["r1"] != nil)
        #expect(publisher.recorded.count == 2)
        #expect(health.isReady, "dependencies recovered")
    }

    @Test func generationFailuresEndInTheDLQAfterTheAttempts() async throws {
        let audit = MemoryAuditLog()
        let generator = CountingGenerator(failures: 5)
        _ = await processor(audit: audit, generator: generator).process(message(requestBytes("r1")))
        let row = try #require(audit.all["r1"])
        #expect(row.decision == .rejected)
        #expect(generator.calls.withLock { $0 } == 3)
        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(row.publishedPayload))
        #expect(envelope.reasonCode == .generationFailed)
    }

    @Test func cancellationHandsBackWithoutAuditRowOrCommit() async throws {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let generator = CountingGenerator(blockUntilCancelled: true)
        let p = processor(audit: audit, publisher: publisher, generator: generator)
        let task = Task { await p.process(message(requestBytes("r1"))) }
        while generator.calls.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        let outcome = await task.value
        guard case .handedBack = outcome else {
            Issue.record("expected a hand-back, got \(outcome)")
            return
        }
        #expect(audit.all.isEmpty)
        #expect(publisher.recorded.isEmpty)
    }

    @Test func healthReportsUnavailableDependency() {
        let health = WorkerHealth()
        #expect(!health.isReady)
        health.setRunning(true)
        #expect(health.isReady)
        health.markUnavailable("audit", reason: "connection refused")
        #expect(!health.isReady)
        #expect(health.problems == ["audit: connection refused"])
        health.markAvailable("audit")
        #expect(health.isReady)
    }
}

@Suite struct PolicyTests {
    @Test func mitigationPolicyRaisesButNeverLowers() {
        let policy = MitigationPolicy(forceSafeGen: true, minimumSafetyPreset: .medium)
        let weak = GenerationRequest(requestID: "r", tenant: "t", prompt: "p", seed: 1,
                                     mitigations: Mitigations(safetyGuidance: SafetyGuidance(preset: .weak)))
        let plan = policy.plan(for: weak)
        #expect(plan.mitigations.safegen == true)
        #expect(plan.mitigations.safetyGuidance?.preset == .medium)
        #expect(plan.forcedByPolicy == ["safegen", "safety_guidance"])
        let strong = GenerationRequest(requestID: "r", tenant: "t", prompt: "p", seed: 1,
                                       mitigations: Mitigations(safegen: true, safetyGuidance: SafetyGuidance(preset: .max)))
        #expect(policy.plan(for: strong).mitigations.safetyGuidance?.preset == .max)
        #expect(policy.plan(for: strong).forcedByPolicy == [])
    }

    @Test func thresholdPolicyTakesTheWorstRule() {
        let policy = ThresholdPolicy(rules: [
            .init(scorer: "a", label: "x", censorAt: 0.5, blockAt: 0.9),
            .init(scorer: "b", label: "y", censorAt: 0.3),
        ])
        #expect(policy.decide(tenant: "t", scores: [HarmScore(scorer: "a", label: "x", score: 0.2, subject: .image)]).decision == .allow)
        let censor = policy.decide(tenant: "t", scores: [HarmScore(scorer: "b", label: "y", score: 0.3, subject: .image)])
        #expect(censor.decision == .censor)
        #expect(censor.reasons == [DecisionReason(scorer: "b", label: "y", score: 0.3, threshold: 0.3)])
        let both = policy.decide(tenant: "t", scores: [
            HarmScore(scorer: "a", label: "x", score: 0.95, subject: .image), HarmScore(scorer: "b", label: "y", score: 0.4, subject: .prompt),
        ])
        #expect(both.decision == .block)
        #expect(both.reasons.count == 2)
    }

    @Test func backoffDoublesUpToTheCap() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        let delays = (0..<6).map { _ in backoff.nextDelay() }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }
}

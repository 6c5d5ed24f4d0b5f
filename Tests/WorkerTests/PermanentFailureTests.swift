import AuditStore
import Contracts
import Moderation
import Foundation
import Logging
import Synchronization
import Testing
import Worker

/// A message must end whatever its bytes: permanent failures become rejections, a reused
/// request id never gets another message's answer, a message the worker keeps dying on is
/// quarantined, and a result too large for the broker goes to the image store.
@Suite struct PermanentFailureTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func processor(
        audit: MemoryAuditLog, publisher: any ResultPublishing = RecordingPublisher(), generator: any ImageGenerating = CountingGenerator(),
        scorer: any RequestScoring = KeywordScorer(), health: WorkerHealth = WorkerHealth(), maxAttempts: Int = 3,
        messageMaxBytes: Int = 1_000_000, imageStore: (any ImageStoring)? = nil, storePolicy: ImageStorePolicy = .whenTooLarge
    ) -> RequestProcessor {
        let policy = ThresholdPolicy(rules: [.init(scorer: "keyword", label: "violence", censorAt: 0.5, blockAt: 0.9)])
        return RequestProcessor(
            settings: .init(workerID: "w1", backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(5)),
                            maxAttempts: maxAttempts, messageMaxBytes: messageMaxBytes, imageStorePolicy: storePolicy),
            components: .init(generator: generator, scorer: scorer, policy: policy, censor: BlackCensor(), audit: audit,
                              publisher: publisher, imageStore: imageStore),
            health: health, logger: Self.quiet)
    }

    static func published(_ publisher: RecordingPublisher) -> [(topic: String, key: String, payload: [UInt8])] {
        publisher.recorded.compactMap { call in
            if case .publish(let topic, let key, let payload) = call { return (topic, key, payload) }
            return nil
        }
    }

    // MARK: - Idempotency key

    @Test func aReusedRequestIDWithOtherBytesIsRejectedUnderItsOwnPosition() async throws {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let generator = CountingGenerator()
        let p = processor(audit: audit, publisher: publisher, generator: generator)
        _ = await p.process(message(requestBytes("shared", prompt: "a lighthouse"), offset: 1))
        var other = GenerationRequest(requestID: "shared", tenant: "globex", prompt: "a harbour at night", seed: 7, width: 64, height: 64, steps: 4)
        other.negativePrompt = ""
        let otherBytes = Array(try JSONEncoder().encode(other))
        let second = await p.process(message(otherBytes, partition: 2, offset: 9))

        #expect(generator.calls.withLock { $0 } == 1, "the duplicate is never generated")
        let first = try #require(audit.all["shared"])
        #expect(first.decision == .allow)
        let duplicate = try #require(audit.all["kafka:chaperone.requests:2:9"], "the duplicate has its own audit row")
        #expect(duplicate.decision == .rejected)
        #expect(duplicate.reasonsJSON.contains("duplicate_request_id"))
        #expect(duplicate.rawRequest == otherBytes)
        #expect(duplicate.requestSHA256 == SHA256.hex(otherBytes))
        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(duplicate.publishedPayload))
        #expect(envelope.reasonCode == .duplicateRequestID)
        #expect(envelope.auditID == "kafka:chaperone.requests:2:9")
        #expect(envelope.firstRequest == DLQEnvelope.FirstRequest(auditID: "shared", source: SourcePosition(topic: "chaperone.requests", partition: 0, offset: 1)))
        guard case .delivered(let stored, republished: false) = second else { Issue.record("not delivered: \(second)"); return }
        #expect(stored.publishedPayload == duplicate.publishedPayload)
        let sent = Self.published(publisher)
        #expect(sent.count == 2)
        #expect(sent[1].topic == "chaperone.requests.dlq" && sent[1].payload == duplicate.publishedPayload, "the DLQ copy is the stored payload")
        #expect(sent[0].payload == first.publishedPayload)
    }

    @Test func theSameBytesRedeliveredElsewhereAreAnsweredWithTheStoredResult() async throws {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let p = processor(audit: audit, publisher: publisher)
        let bytes = requestBytes("again")  // one encoding: JSONEncoder's key order may differ per call
        _ = await p.process(message(bytes, offset: 3))
        let second = await p.process(message(bytes, partition: 1, offset: 7))
        #expect(audit.all.count == 1)
        guard case .delivered(_, republished: true) = second else { Issue.record("not republished: \(second)"); return }
        let sent = Self.published(publisher)
        #expect(sent.count == 2 && sent[0].payload == sent[1].payload)
    }

    @Test func aDuplicateThatLosesTheInsertRaceIsStillRejected() async throws {
        // Another worker stored "raced" between this worker's lookup and insert.
        let audit = RacingAuditLog()
        let publisher = RecordingPublisher()
        let racing = RequestProcessor(
            settings: .init(workerID: "w1", backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(5))),
            components: .init(generator: CountingGenerator(), scorer: KeywordScorer(), policy: ThresholdPolicy(rules: []),
                              censor: BlackCensor(), audit: audit, publisher: publisher),
            health: WorkerHealth(), logger: Self.quiet)
        let outcome = await racing.process(message(requestBytes("raced", prompt: "mine"), offset: 5))
        guard case .delivered(let stored, _) = outcome else { Issue.record("not delivered: \(outcome)"); return }
        #expect(stored.requestID == "kafka:chaperone.requests:0:5")
        #expect(stored.publishedTopic == "chaperone.requests.dlq")
        #expect(try #require(audit.memory.all["raced"]).prompt == "theirs", "the winner's row is untouched")
    }

    // MARK: - Poison quarantine

    @Test func theDeliveryThatReachesMaxAttemptsIsQuarantinedWithoutGenerating() async throws {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let generator = CountingGenerator()
        let source = SourcePosition(topic: "chaperone.requests", partition: 0, offset: 11)
        audit.starts.withLock { $0[source] = 2 }  // two earlier deliveries died on it
        let outcome = await processor(audit: audit, publisher: publisher, generator: generator, maxAttempts: 3)
            .process(message(requestBytes("deadly"), offset: 11))
        #expect(generator.calls.withLock { $0 } == 0)
        let row = try #require(audit.all["kafka:chaperone.requests:0:11"])
        #expect(row.decision == .rejected && row.reasonsJSON.contains("\"poison\""))
        #expect(audit.all["deadly"] == nil, "the request id stays free: the message was never answered under it")
        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(row.publishedPayload))
        #expect(envelope.reasonCode == .poison && envelope.attempts == 3)
        guard case .delivered(let stored, _) = outcome else { Issue.record("not delivered"); return }
        #expect(stored.publishedPayload == row.publishedPayload)
        #expect(audit.starts.withLock { $0[source] } == nil, "the count is cleared once the row is written")
    }

    @Test func aHealthyMessageBelowTheLimitIsGeneratedAndItsCountCleared() async throws {
        let audit = MemoryAuditLog()
        let source = SourcePosition(topic: "chaperone.requests", partition: 0, offset: 12)
        audit.starts.withLock { $0[source] = 1 }  // one earlier delivery died on it
        _ = await processor(audit: audit, maxAttempts: 3).process(message(requestBytes("survivor"), offset: 12))
        #expect(try #require(audit.all["survivor"]).decision == .allow)
        #expect(audit.starts.withLock { $0[source] } == nil)
    }

    @Test func aHandBackTakesItsStartBack() async throws {
        let audit = MemoryAuditLog()
        let generator = CountingGenerator(blockUntilCancelled: true)
        let p = processor(audit: audit, generator: generator)
        let task = Task { await p.process(message(requestBytes("revoked"), offset: 13)) }
        while generator.calls.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        guard case .handedBack = await task.value else { Issue.record("not handed back"); return }
        #expect(audit.starts.withLock { $0[SourcePosition(topic: "chaperone.requests", partition: 0, offset: 13)] } == 0)
    }

    // MARK: - Data the database refuses

    @Test func theAttributeKeyWithNULIsRejectedWithAStorableReason() async throws {
        let audit = MemoryAuditLog()
        audit.refuseLikePostgreSQL.withLock { $0 = true }
        let bytes = Array(#"{"request_id":"nul-key","tenant":"acme","prompt":"a cat","negative_prompt":"","seed":1,"width":64,"height":64,"steps":2,"guidance_scale":7.5,"scheduler":"pndm","mitigations":{},"attributes":{"a\u0000":1}}"#.utf8)
        let outcome = await processor(audit: audit).process(message(bytes, offset: 20))
        let row = try #require(audit.all["nul-key"])
        #expect(row.decision == .rejected)
        #expect(row.reasonsJSON.contains("wrong_type"))
        #expect(!row.reasonsJSON.contains("\\u0000"))
        guard case .delivered = outcome else { Issue.record("not delivered: \(outcome)"); return }
    }

    @Test func aRowTheDatabaseRefusesBecomesAnUnstorableRejection() async throws {
        let audit = MemoryAuditLog()
        audit.refuseLikePostgreSQL.withLock { $0 = true }
        let publisher = RecordingPublisher()
        // A scorer whose label carries U+0000: the scores jsonb of the allow row is refused.
        let outcome = await processor(audit: audit, publisher: publisher, scorer: NULLabelScorer())
            .process(message(requestBytes("refused"), offset: 21))
        let row = try #require(audit.all["refused"])
        #expect(row.decision == .rejected)
        #expect(row.reasonsJSON.contains("unstorable"))
        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(row.publishedPayload))
        #expect(envelope.reasonCode == .unstorable)
        #expect(envelope.requestID == "refused")
        let sent = Self.published(publisher)
        #expect(sent.count == 1 && sent[0].topic == "chaperone.requests.dlq" && sent[0].payload == row.publishedPayload)
        guard case .delivered = outcome else { Issue.record("not delivered: \(outcome)"); return }
    }

    @Test func storableTextReplacesOnlyWhatPostgreSQLRefuses() throws {
        struct Reason: Encodable { var message: String }
        let encoded = String(decoding: try JSONEncoder().encode([Reason(message: "key a\u{0}b \\u0000 \u{1F600}")]), as: UTF8.self)
        #expect(encoded.contains("\\u0000"))
        let storable = StorableText.json(encoded)
        #expect(storable.changed)
        let decoded = try JSONSerialization.jsonObject(with: Data(storable.json.utf8)) as? [[String: String]]
        #expect(decoded?.first?["message"] == "key a\u{FFFD}b \\u0000 \u{1F600}", "the escaped backslash text stays as it was")
        #expect(StorableText.json(#"{"a":"\ud800 lone","b":"\ud83d\ude00"}"#).json == #"{"a":"\ufffd lone","b":"\ud83d\ude00"}"#)
        #expect(StorableText.json(#"{"a":"plain"}"#).changed == false)
        #expect(StorableText.text("a\u{0}b") == ("a\u{FFFD}b", true))
        #expect(StorableText.text("ab").changed == false)
    }

    @Test func aSchemaThatRefusesEvenAMinimalRowIsRetriedNotSkipped() async throws {
        // A minimal row is refused too: the worker keeps retrying (a deployment fault), never
        // publishing something without a row.
        let audit = MemoryAuditLog()
        audit.refuseEverything.withLock { $0 = true }
        let publisher = RecordingPublisher()
        let health = WorkerHealth()
        let p = processor(audit: audit, publisher: publisher, health: health)
        let task = Task { await p.process(message(requestBytes("nowhere"), offset: 23)) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.published(publisher).isEmpty)
        #expect(!health.isReady)
        task.cancel()
        guard case .handedBack = await task.value else { Issue.record("not handed back"); return }
    }

    // MARK: - Results larger than a Kafka message

    @Test func aResultTooLargeInlineGoesToTheImageStore() async throws {
        let audit = MemoryAuditLog()
        let store = MemoryImageStore()
        let generator = LargeImageGenerator(bytes: 60_000)
        let outcome = await processor(audit: audit, generator: generator, messageMaxBytes: 50_000, imageStore: store)
            .process(message(requestBytes("large"), offset: 30))
        let row = try #require(audit.all["large"])
        #expect(row.decision == .allow)
        #expect(row.publishedPayload.count < 50_000 - 2048)
        let result = try JSONDecoder().decode(ModerationResult.self, from: Data(row.publishedPayload))
        #expect(result.image == nil)
        let sha = try #require(result.imageSHA256)
        #expect(result.imageRef == "memory:\(sha)")
        #expect(store.images.withLock { $0[sha] } == generator.png, "the store holds the published bytes under their hash")
        #expect(SHA256.hex(generator.png) == sha)
        guard case .delivered = outcome else { Issue.record("not delivered"); return }
    }

    @Test func aSmallResultStaysInlineUnlessTheStoreIsAlwaysUsed() async throws {
        let audit = MemoryAuditLog()
        let store = MemoryImageStore()
        _ = await processor(audit: audit, imageStore: store).process(message(requestBytes("small"), offset: 31))
        let inline = try JSONDecoder().decode(ModerationResult.self, from: Data(try #require(audit.all["small"]).publishedPayload))
        #expect(inline.image != nil && inline.imageRef == nil)
        #expect(store.images.withLock { $0.isEmpty })
        _ = await processor(audit: audit, imageStore: store, storePolicy: .always).process(message(requestBytes("stored"), offset: 32))
        let stored = try JSONDecoder().decode(ModerationResult.self, from: Data(try #require(audit.all["stored"]).publishedPayload))
        #expect(stored.image == nil && stored.imageRef != nil)
    }

    @Test func aResultTooLargeWithoutAStoreIsRejectedAsUnpublishable() async throws {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let outcome = await processor(audit: audit, publisher: publisher, generator: LargeImageGenerator(bytes: 60_000), messageMaxBytes: 50_000)
            .process(message(requestBytes("toolarge"), offset: 33))
        let row = try #require(audit.all["toolarge"])
        #expect(row.decision == .rejected && row.reasonsJSON.contains("unpublishable"))
        let sent = Self.published(publisher)
        #expect(sent.count == 1 && sent[0].payload == row.publishedPayload && sent[0].payload.count < 50_000)
        guard case .delivered = outcome else { Issue.record("not delivered"); return }
    }

    @Test func aHugeRejectedOriginalIsCutToTheProducerLimit() async throws {
        let audit = MemoryAuditLog()
        let value = Array(repeating: UInt8(ascii: "x"), count: 120_000)
        _ = await processor(audit: audit, messageMaxBytes: 50_000).process(message(value, offset: 34))
        let row = try #require(audit.all["kafka:chaperone.requests:0:34"])
        #expect(row.publishedPayload.count < 50_000)
        #expect(row.rawRequest == value, "the audit row keeps the whole original")
        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(row.publishedPayload))
        #expect(envelope.originalTruncated == true && envelope.originalSize == value.count)
    }

    @Test func aPayloadTheBrokerRefusesForGoodStillEndsTheMessage() async throws {
        let audit = MemoryAuditLog()
        let publisher = RefusingPublisher(refusedTopic: "chaperone.results")
        let outcome = await processor(audit: audit, publisher: publisher).process(message(requestBytes("refused-by-broker"), offset: 40))
        let row = try #require(audit.all["refused-by-broker"])
        #expect(row.decision == .allow, "the row was written before the broker refused the payload")
        let sent = publisher.sent.withLock { $0 }
        #expect(sent.count == 1 && sent[0].topic == "chaperone.requests.dlq")
        let envelope = try JSONDecoder().decode(DLQEnvelope.self, from: Data(sent[0].payload))
        #expect(envelope.reasonCode == .unpublishable && envelope.auditID == "refused-by-broker")
        #expect(publisher.commits.withLock { $0 } == [SourcePosition(topic: "chaperone.requests", partition: 0, offset: 40)])
        guard case .delivered = outcome else { Issue.record("not delivered: \(outcome)"); return }
    }

    // MARK: - Liveness

    @Test func healthReportsAStallOfTheLoopOrOfTheRequestInHand() async throws {
        let health = WorkerHealth()
        let start = ContinuousClock.now
        #expect(health.stall(timeout: .seconds(10), now: start + .seconds(60)) == nil, "not running yet: live")
        health.setRunning(true)
        health.noteLoopProgress()
        let t0 = ContinuousClock.now
        #expect(health.stall(timeout: .seconds(10), now: t0 + .seconds(5)) == nil)
        #expect(health.stall(timeout: .seconds(10), now: t0 + .seconds(11))?.contains("request loop") == true)
        health.requestStarted(at: SourcePosition(topic: "t", partition: 1, offset: 2))
        health.noteStep(3, of: 20)
        health.noteLoopProgress()
        let t1 = ContinuousClock.now
        #expect(health.inFlight?.step == 3 && health.inFlight?.totalSteps == 20)
        let stall = health.stall(timeout: .seconds(10), now: t1 + .seconds(11))
        #expect(stall != nil)
        health.requestEnded()
        #expect(health.inFlight == nil)
    }
}

/// A PNG-sized blob of `bytes` bytes (incompressible enough for the test's purpose).
struct LargeImageGenerator: ImageGenerating {
    let modelSHA256 = String(repeating: "cd", count: 32)
    let png: [UInt8]

    init(bytes: Int) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        png = (0..<bytes).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    func generate(_ request: GenerationRequest, plan: MitigationPlan, progress: @escaping @Sendable (GenerationProgress) -> Void) async throws -> GeneratedImage {
        GeneratedImage(png: png, rgb: [0, 0, 0], width: 1, height: 1, modelSHA256: modelSHA256, overlaySHA256: nil,
                       appliedMitigations: AppliedMitigations(safegen: false))
    }
}

/// A broker that refuses every message to `refusedTopic` for good (as librdkafka refuses a
/// message over `message.max.bytes`).
final class RefusingPublisher: ResultPublishing {
    struct Refusal: PermanentFailureReporting { var isPermanentForMessage: Bool { true } }
    let refusedTopic: String
    let sent = Mutex<[(topic: String, payload: [UInt8])]>([])
    let commits = Mutex<[SourcePosition]>([])
    var isTransactional: Bool { false }

    init(refusedTopic: String) { self.refusedTopic = refusedTopic }

    func publish(topic: String, key: String, payload: [UInt8]) async throws {
        if topic == refusedTopic { throw Refusal() }
        sent.withLock { $0.append((topic, payload)) }
    }

    func commit(_ consumed: SourcePosition) async throws { commits.withLock { $0.append(consumed) } }

    func publishAndCommit(topic: String, key: String, payload: [UInt8], offset consumed: SourcePosition) async throws {
        try await publish(topic: topic, key: key, payload: payload)
        try await commit(consumed)
    }
}

/// Images kept in memory, referenced as `memory:<sha256>`.
final class MemoryImageStore: ImageStoring {
    let images = Mutex<[String: [UInt8]]>([:])

    func store(png: [UInt8], sha256: String) async throws -> String {
        images.withLock { $0[sha256] = png }
        return "memory:\(sha256)"
    }
}

/// A scorer whose image label carries U+0000 (text PostgreSQL's jsonb refuses).
struct NULLabelScorer: RequestScoring {
    func scorePrompt(_ request: GenerationRequest) async throws -> [HarmScore] { [] }
    func scoreImage(_ image: GeneratedImage, request: GenerationRequest) async throws -> [HarmScore] {
        [HarmScore(scorer: "image", label: "bad\u{0}label", score: 0.01, subject: .image)]
    }
}

/// An audit log where another worker's row for "raced" (other bytes) appears between the
/// lookup and the insert.
final class RacingAuditLog: AuditLog {
    let memory = MemoryAuditLog()

    func decision(requestID: String) async throws -> DecisionRecord? {
        let found = try await memory.decision(requestID: requestID)
        if requestID == "raced", found == nil {
            let theirs = requestBytes("raced", prompt: "theirs")
            _ = try await memory.insertDecision(DecisionRecord(
                requestID: "raced", tenant: "acme", decision: .allow, reasonsJSON: "[]", prompt: "theirs", negativePrompt: "",
                mitigationsJSON: "{}", scoresJSON: "[]", imageSHA256: nil, modelSHA256: nil, overlaySHA256: nil, workerID: "w2",
                source: SourcePosition(topic: "chaperone.requests", partition: 3, offset: 1), publishedTopic: "chaperone.results",
                publishedPayload: Array("theirs".utf8), rawRequest: nil, requestSHA256: SHA256.hex(theirs)))
        }
        return found
    }

    func insertDecision(_ entry: DecisionRecord) async throws -> InsertOutcome { try await memory.insertDecision(entry) }
    func recordProcessingStart(of source: SourcePosition, workerID: String) async throws -> Int {
        try await memory.recordProcessingStart(of: source, workerID: workerID)
    }
    func retractProcessingStart(of source: SourcePosition) async throws { try await memory.retractProcessingStart(of: source) }
    func clearProcessingStarts(of source: SourcePosition) async throws { try await memory.clearProcessingStarts(of: source) }
    func keepWithheldImage(sha256: String, bytes: [UInt8]) async throws { try await memory.keepWithheldImage(sha256: sha256, bytes: bytes) }
}

import AuditStore
import Contracts
import Moderation
import Diffusion
import Foundation
import HarmScoring
import Logging
import Synchronization
import Tensor
import Testing
import Worker
@testable import Engine
import TestSupport

/// Escalation, the scorer cascade and early abort end to end through the worker's request
/// processor with the native engine on the tiny model (and its SafeGen overlay), a policy file,
/// and the audit log in PostgreSQL (`CHAPERONE_TEST_POSTGRES_URL`).
///
/// The tiny model draws noise, so its images carry no real harm; the tests score them with
/// "tone" scorers (mean colour channels) and place the policy thresholds between measured
/// values, so each decision is steered without faking the generator, the policy or the audit.
@Suite(.serialized) struct ModerationEndToEndTests {
    static let model = NativeEngineTests.model
    static let overlay = NativeEngineTests.overlay
    static let labels = ["red", "green", "blue", "inv_red", "inv_green", "inv_blue"]

    /// Mean of each channel, and 1 − mean, in [0, 1].
    static func tone(_ rgb: [UInt8]) -> [String: Double] {
        var sums = [0.0, 0.0, 0.0]
        for (index, value) in rgb.enumerated() { sums[index % 3] += Double(value) }
        let count = Double(rgb.count / 3) * 255
        let means = sums.map { $0 / count }
        return ["red": means[0], "green": means[1], "blue": means[2], "inv_red": 1 - means[0], "inv_green": 1 - means[1], "inv_blue": 1 - means[2]]
    }

    /// A tone scorer called `name` that counts its calls.
    static func toneScorer(_ name: String, calls: CallCounter? = nil) -> NamedImageScorer {
        NamedImageScorer(name: name) { rgb, _, _ in
            calls?.increment()
            return tone(rgb).map { HarmScore(scorer: name, label: $0.key, score: $0.value) }
        }
    }

    static func request(_ id: String, tenant: String = "acme", safegen: Bool? = false) -> GenerationRequest {
        var request = GenerationRequest(requestID: id, tenant: tenant, prompt: "a photo of a person", seed: 5)
        request.width = 64
        request.height = 64
        request.steps = 4
        request.scheduler = "ddim"
        request.mitigations = Mitigations(safegen: safegen)
        return request
    }

    static func writePolicy(_ json: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("moderation-policy-\(UUID()).json")
        try Data(json.utf8).write(to: url)
        return url
    }

    /// Processes `request` through a request processor with the engine and the real audit log;
    /// returns the stored record, the published payload and the decoded tries.
    static func process(
        _ request: GenerationRequest, engine: NativeEngine, database: AuditDatabase
    ) async throws -> (record: DecisionRecord, published: [UInt8], result: ModerationResult, tries: [ModerationTry]) {
        let publisher = CapturingPublisher()
        let processor = RequestProcessor(
            settings: .init(workerID: "engine-e2e", maxGenerationAttempts: 1),
            components: .init(generator: engine.generator, scorer: engine.scorer, policy: engine.policy, censor: engine.censor,
                              audit: (database.repository), publisher: publisher),
            health: WorkerHealth(), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let source = SourcePosition(topic: "chaperone.requests", partition: 0, offset: Int64(database.nextOffset()))
        let outcome = await processor.process(IncomingMessage(source: source, key: nil, value: Array(try JSONEncoder().encode(request))))
        guard case .delivered(let stored, republished: false) = outcome else {
            throw NotDelivered(description: "request \(request.requestID) was not delivered: \(outcome)")
        }
        #expect(stored.decision != .rejected, "\(String(decoding: stored.publishedPayload, as: UTF8.self))")
        let record = try #require(try await database.repository.decision(requestID: request.requestID))
        let published = try #require(publisher.payloads.last)
        #expect(published == record.publishedPayload, "published bytes = stored payload")
        let result = try JSONDecoder().decode(ModerationResult.self, from: Data(published))
        let tries = try record.triesJSON.map { try JSONDecoder().decode([ModerationTry].self, from: Data($0.utf8)) } ?? []
        return (record, published, result, tries)
    }

    /// The label whose score drops most from the plain image to the SafeGen image, and a
    /// threshold halfway between the two.
    static func separatingLabel(plain: [UInt8], safeGen: [UInt8]) -> (label: String, threshold: Double, plain: Double, safeGen: Double) {
        let (a, b) = (tone(plain), tone(safeGen))
        let label = labels.max { (a[$0]! - b[$0]!) < (a[$1]! - b[$1]!) }!
        return (label, (a[label]! + b[label]!) / 2, a[label]!, b[label]!)
    }

    @Test func escalationRescuesABlockedRequestAndKeepsOneRowWithEveryTry() async throws {
        let measure = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model, overlayPath: Self.overlay))
        let plainPlan = MitigationPlan(mitigations: Mitigations(safegen: false))
        let plain = try await measure.generator.generate(Self.request("m"), plan: plainPlan) { _ in }
        let safeGen = try await measure.generator.generate(Self.request("m", safegen: true), plan: MitigationPlan(mitigations: Mitigations(safegen: true))) { _ in }
        let split = Self.separatingLabel(plain: plain.rgb, safeGen: safeGen.rgb)
        try #require(split.plain > split.safeGen, "SafeGen changes the tiny model's image")

        let policy = try Self.writePolicy("""
            {"default": {"rules": [{"scorer": "tone", "labels": ["\(split.label)"], "block_at": \(split.threshold)}],
                         "escalation": {"max_tries": 3, "time_budget_s": 600,
                                        "steps": [{"name": "safegen", "safegen": true}, {"name": "sld-max", "safegen": true, "sld": "max"}]}},
             "tenants": {"plain": {"rules": [{"scorer": "tone", "labels": ["\(split.label)"], "block_at": \(split.threshold)}]}}}
            """)
        defer { try? FileManager.default.removeItem(at: policy) }
        let engine = try NativeEngine(settings: NativeEngineSettings(
            modelPath: Self.model, overlayPath: Self.overlay, policyPath: policy.path, extraImageScorers: [Self.toneScorer("tone")]))
        try await AuditDatabase.with { database in
            let (record, _, result, tries) = try await Self.process(Self.request("esc-e2e-1"), engine: engine, database: database)
            #expect(tries.map(\.step) == ["request", "safegen"])
            #expect(tries.map(\.decision) == [.block, .allow])
            #expect(tries.map(\.published) == [false, true])
            #expect(tries[0].imageSHA256 == SHA256.hex(plain.png))
            #expect(tries[1].imageSHA256 == SHA256.hex(safeGen.png))
            #expect(tries[0].scores.contains { $0.scorer == "tone" && $0.label == split.label && abs($0.score - split.plain) < 1e-9 })
            #expect(tries[1].mitigations.safegen && tries[1].mitigations.forcedByPolicy == ["escalation:safegen"])
            #expect(result.decision == .allow && record.decision == .allow)
            #expect(result.escalation == EscalationSummary(tries: 2, publishedTry: 2, steps: ["request", "safegen"], earlyAborts: 0, stepsSaved: 0))
            // The published image is the SafeGen try's, byte for byte; the row names its digest.
            #expect(result.image.flatMap { Data(base64Encoded: $0) }.map(Array.init) == safeGen.png)
            #expect(record.imageSHA256 == SHA256.hex(safeGen.png))
            #expect(result.overlaySHA256 == safeGen.overlaySHA256)

            // A tenant without a ladder is blocked on the first try, and its row has no tries.
            let (plainRecord, plainPayload, plainResult, plainTries) = try await Self.process(
                Self.request("esc-e2e-2", tenant: "plain"), engine: engine, database: database)
            #expect(plainTries.isEmpty && plainRecord.triesJSON == nil)
            #expect(plainResult.decision == .block && plainResult.escalation == nil)
            #expect(!String(decoding: plainPayload, as: UTF8.self).contains("escalation"))

            // One decision row per request, and the analyst views see the tries.
            #expect(try await database.repository.count() == 2)
            let rows = try await database.repository.connection.query(
                "SELECT try, step, decision, published FROM audit_tries WHERE request_id = 'esc-e2e-1' ORDER BY try")
            let steps = try rows.rows.map { try $0.decode("step", as: String.self) }
            #expect(steps == ["request", "safegen"])
            let summary = try await database.repository.connection.query(
                "SELECT requests, tries, rescued, blocked FROM audit_escalation_by_tenant WHERE tenant = 'acme'")
            let row = try summary.single("escalation summary")
            #expect(try row.decode("requests", as: Int.self) == 1 && row.decode("tries", as: Int.self) == 2)
            #expect(try row.decode("rescued", as: Int.self) == 1 && row.decode("blocked", as: Int.self) == 0)
        }
    }

    @Test func cascadeSkipsTheSecondScorerWhenClearAndOverturnsWhenItDoesNotConfirm() async throws {
        let measure = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model, overlayPath: Self.overlay))
        let image = try await measure.generator.generate(Self.request("m"), plan: MitigationPlan(mitigations: Mitigations(safegen: false))) { _ in }
        let tone = Self.tone(image.rgb)
        let label = "red"
        let value = tone[label]!
        let slowCalls = CallCounter()
        // The fast scorer alone would block (block_at below its value). Tenant "clear": its
        // allow_below is above the value, so the slow scorer never runs. Tenant "unconfirmed":
        // the slow scorer runs and its confirm_at is above the value, so the block is overturned.
        // Tenant "confirmed": the slow scorer confirms and the block stands.
        func tenant(allowBelow: Double, confirmAt: Double) -> String {
            """
            {"rules": [{"scorer": "fast", "labels": ["\(label)"], "block_at": \(value - 0.01)}],
             "cascade": [{"category": "tone", "allow_below": \(allowBelow), "confirm_at": \(confirmAt),
                          "first": {"scorer": "fast", "labels": ["\(label)"]}, "second": {"scorer": "slow", "labels": ["\(label)"]}}]}
            """
        }
        let policy = try Self.writePolicy("""
            {"default": \(tenant(allowBelow: value + 0.01, confirmAt: 0)),
             "tenants": {"unconfirmed": \(tenant(allowBelow: 0, confirmAt: value + 0.01)),
                         "confirmed": \(tenant(allowBelow: 0, confirmAt: value - 0.01))}}
            """)
        defer { try? FileManager.default.removeItem(at: policy) }
        let engine = try NativeEngine(settings: NativeEngineSettings(
            modelPath: Self.model, policyPath: policy.path,
            extraImageScorers: [Self.toneScorer("fast"), Self.toneScorer("slow", calls: slowCalls)]))
        try await AuditDatabase.with { database in
            let clear = try await Self.process(Self.request("cascade-1"), engine: engine, database: database)
            #expect(clear.result.decision == .allow)
            #expect(clear.result.reasons.map(\.stage) == ["first"] && clear.result.reasons.first?.action == .allow)
            #expect(clear.result.scores.contains { $0.scorer == "cascade" && $0.label == "tone" && $0.score == 1 })
            #expect(!clear.result.scores.contains { $0.scorer == "slow" })
            #expect(slowCalls.count == 0, "the second stage did not run")

            let unconfirmed = try await Self.process(Self.request("cascade-2", tenant: "unconfirmed"), engine: engine, database: database)
            #expect(unconfirmed.result.decision == .allow)
            #expect(unconfirmed.result.reasons.map(\.stage) == ["second"])
            #expect(unconfirmed.result.scores.contains { $0.scorer == "cascade" && $0.score == 2 })
            #expect(slowCalls.count == 1)

            let confirmed = try await Self.process(Self.request("cascade-3", tenant: "confirmed"), engine: engine, database: database)
            #expect(confirmed.result.decision == .block)
            #expect(confirmed.result.reasons.map(\.scorer) == ["fast"])
            #expect(confirmed.result.reasons.first?.stage == "second" && confirmed.result.reasons.first?.action == .block)
            #expect(try await database.repository.count() == 3)
        }
    }

    @Test func earlyAbortStopsSamplingAndRecordsTheStepsSaved() async throws {
        // abort_at 0: the first checked preview aborts (step 2 of 4). The ladder's SafeGen try
        // is aborted too, so the request ends blocked with both tries kept.
        let policy = try Self.writePolicy("""
            {"default": {"rules": [{"scorer": "tone", "labels": ["red"], "block_at": 2}],
                         "early_abort": {"from_step": 2, "scorer": "tone", "labels": ["red", "inv_red"], "abort_at": 0},
                         "escalation": {"max_tries": 2, "time_budget_s": 600, "steps": [{"name": "safegen", "safegen": true}]}}}
            """)
        defer { try? FileManager.default.removeItem(at: policy) }
        let engine = try NativeEngine(settings: NativeEngineSettings(
            modelPath: Self.model, overlayPath: Self.overlay, policyPath: policy.path, extraImageScorers: [Self.toneScorer("tone")]))
        guard case .linear = engine.generator.earlyAbort?.preview else {
            Issue.record("the tiny model's latent_preview.json is used")
            return
        }
        try await AuditDatabase.with { database in
            let (record, _, result, tries) = try await Self.process(Self.request("abort-1"), engine: engine, database: database)
            #expect(result.decision == .block && record.decision == .block)
            #expect(tries.map(\.earlyAbort) == [.init(atStep: 2, stepsSaved: 2), .init(atStep: 2, stepsSaved: 2)])
            #expect(tries.map(\.stepsRun) == [2, 2])
            #expect(tries.allSatisfy { $0.reasons.first?.stage == "early_abort" })
            #expect(result.escalation == EscalationSummary(tries: 2, publishedTry: nil, steps: ["request", "safegen"], earlyAborts: 2, stepsSaved: 4))
            // The row names the preview that was judged.
            #expect(record.imageSHA256 == tries[1].imageSHA256)
            let saved = try await database.repository.connection.query(
                "SELECT early_aborts, steps_saved FROM audit_escalation_by_tenant WHERE tenant = 'acme'").single("summary")
            #expect(try saved.decode("early_aborts", as: Int.self) == 2 && saved.decode("steps_saved", as: Int.self) == 4)
        }
    }

    @Test func earlyAbortRespectsACascadeThatClearsThePrompt() async throws {
        // abort_at 0 would stop every generation, but the cascade clears benign prompts at its
        // prompt-harm first stage, so their previews cannot abort.
        let policy = try Self.writePolicy("""
            {"default": {"rules": [{"scorer": "tone", "labels": ["red"], "block_at": 2}],
                         "cascade": [{"category": "sexual", "allow_below": 0.2, "confirm_at": 0.5,
                                      "first": {"scorer": "prompt_harm", "labels": ["sexual"]}, "second": {"scorer": "tone", "labels": ["red"]}}],
                         "early_abort": {"from_step": 2, "scorer": "tone", "labels": ["red"], "abort_at": 0}}}
            """)
        defer { try? FileManager.default.removeItem(at: policy) }
        let engine = try NativeEngine(settings: NativeEngineSettings(
            modelPath: Self.model, policyPath: policy.path, extraImageScorers: [Self.toneScorer("tone")]))
        try await AuditDatabase.with { database in
            let benign = try await Self.process(Self.request("abort-benign"), engine: engine, database: database)
            #expect(benign.tries.map(\.earlyAbort) == [nil] && benign.tries.first?.stepsRun == 4)
            var nude = Self.request("abort-flagged")
            nude.prompt = "a naked person"
            let flagged = try await Self.process(nude, engine: engine, database: database)
            #expect(flagged.tries.first?.earlyAbort == .init(atStep: 2, stepsSaved: 2))
            #expect(flagged.result.decision == .block)
        }
    }

    @Test func aPromptScorerCanBeTheFirstStage() throws {
        let slowCalls = CallCounter()
        let scoring = CascadingImageScoring(scorers: [Self.toneScorer("slow", calls: slowCalls)])
        let tenant = TenantPolicy(
            rules: [PolicyRule(scorer: "slow", labels: ["red"], blockAt: 0.5)],
            cascade: [CascadeRule(
                category: "sexual", first: CascadeStage(scorer: "prompt_harm", labels: ["sexual"]),
                second: CascadeStage(scorer: "slow", labels: ["red"]), allowBelow: 0.2, confirmAt: 0.5)])
        let pixels: [UInt8] = [200, 0, 0]
        let benign = try scoring.score(rgb: pixels, width: 1, height: 1, tenant: tenant,
                                       promptScores: [HarmScore(scorer: "prompt_harm", label: "sexual", score: 0.05)])
        #expect(slowCalls.count == 0)
        #expect(benign == [HarmScore(scorer: "cascade", label: "sexual", score: 1)])
        let flagged = try scoring.score(rgb: pixels, width: 1, height: 1, tenant: tenant,
                                        promptScores: [HarmScore(scorer: "prompt_harm", label: "sexual", score: 0.6)])
        #expect(slowCalls.count == 1)
        #expect(flagged.contains(HarmScore(scorer: "cascade", label: "sexual", score: 2)))
        #expect(flagged.contains { $0.scorer == "slow" && $0.label == "red" })
    }

    @Test func linearPreviewMapsEachLatentPixel() throws {
        let map = LinearLatentMap(latentChannels: 4, weights: [[1, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0, 0]], bias: [0, 0.25, 1])
        // Latents [1, 4, 1, 2]: channel-major; pixel 0 has z0 = 0.5, z1 = 1; pixel 1 z0 = 2 (saturates), z1 = -0.5.
        let latents = Tensor(shape: [1, 4, 1, 2], scalars: [0.5, 2, 1, -0.5, 0, 0, 0, 0])
        let image = try map.decode(latents, width: 4, height: 2)
        // Pixel 0 → (128, 191, 255), pixel 1 → (255, 0, 255); each covers a 2×2 block.
        let left: [UInt8] = [128, 191, 255]
        let right: [UInt8] = [255, 0, 255]
        #expect(image.bytes == left + left + right + right + left + left + right + right)
        #expect(throws: DiffusionError.self) { try map.decode(latents, width: 3, height: 2) }
        #expect(LinearLatentMap(latentChannels: 4, weights: [[1]], bias: [0, 0, 0]).problem(latentChannels: 4) != nil)
        let fitted = try LinearLatentMap.load(
            from: URL(fileURLWithPath: Self.model).appendingPathComponent(LatentPreview.fileName), latentChannels: 4)
        #expect(fitted.weights.count == 3 && fitted.bias.count == 3)
    }

    @Test func escalatingToSafeGenWithoutAnOverlayStopsTheEngine() throws {
        let policy = try Self.writePolicy("""
            {"default": {"rules": [{"scorer": "prompt_harm", "labels": ["sexual"], "block_at": 0.9}],
                         "escalation": {"max_tries": 2, "time_budget_s": 60, "steps": [{"name": "safegen", "safegen": true}]}}}
            """)
        defer { try? FileManager.default.removeItem(at: policy) }
        #expect {
            _ = try NativeEngine(settings: NativeEngineSettings(modelPath: Self.model, policyPath: policy.path))
        } throws: { String(describing: $0).contains("no SafeGen overlay is loaded") }
    }
}

struct NotDelivered: Error, CustomStringConvertible {
    let description: String
}

/// Counts calls from any thread.
final class CallCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Keeps what was published; commits are accepted.
final class CapturingPublisher: ResultPublishing {
    let isTransactional = false
    private let published = Mutex<[[UInt8]]>([])

    func publish(topic: String, key: String, payload: [UInt8]) async throws {
        published.withLock { $0.append(payload) }
    }

    func commit(_ consumed: SourcePosition) async throws {}

    func publishAndCommit(topic: String, key: String, payload: [UInt8], offset consumed: SourcePosition) async throws {
        published.withLock { $0.append(payload) }
    }

    var payloads: [[UInt8]] { published.withLock { $0 } }
}

/// A fresh, migrated audit database on `CHAPERONE_TEST_POSTGRES_URL`, dropped afterwards.
final class AuditDatabase: Sendable {
    let repository: AuditRepository
    private let offsets = Mutex(0)

    init(repository: AuditRepository) {
        self.repository = repository
    }

    func nextOffset() -> Int {
        offsets.withLock { value in
            value += 1
            return value
        }
    }

    static func with(_ body: (AuditDatabase) async throws -> Void) async throws {
        guard let url = ProcessInfo.processInfo.environment["CHAPERONE_TEST_POSTGRES_URL"], !url.isEmpty else {
            Issue.record("CHAPERONE_TEST_POSTGRES_URL is not set: run `ops/lib/postgres.sh start` and `eval \"$(ops/lib/postgres.sh env)\"`")
            return
        }
        let name = "chaperone_engine_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let admin = try await Connection.connect(url: url)
        try await admin.query("CREATE DATABASE \(identifier: String(name))")
        let migrations = TestPaths.repository("schemas/migrations")
        do {
            let connection = try await Connection.connect(url: url, overrides: ["dbname": String(name)])
            _ = try await Migrator(connection: connection, directory: migrations).migrate()
            try await body(AuditDatabase(repository: AuditRepository(connection: connection)))
        } catch {
            _ = try? await admin.query("DROP DATABASE IF EXISTS \(identifier: String(name)) WITH (FORCE)")
            throw error
        }
        _ = try? await admin.query("DROP DATABASE IF EXISTS \(identifier: String(name)) WITH (FORCE)")
    }
}

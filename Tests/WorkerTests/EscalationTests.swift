import AuditStore
import Contracts
import Moderation
import Foundation
import Logging
import Synchronization
import Testing
import Worker

// MARK: - The processor running tries

/// Draws a 1×1 image whose red value depends on the mitigations: 200 plain, 120 with SafeGen,
/// 40 with SLD strong or more; a SEGA edit gives 10. Aborts early (as an engine would) when
/// `abortPlain` is set and the plan has no SafeGen.
final class MitigationSensitiveGenerator: ImageGenerating {
    let modelSHA256 = String(repeating: "cd", count: 32)
    let plans = Mutex<[MitigationPlan]>([])
    let abortPlain: Bool

    init(abortPlain: Bool = false) {
        self.abortPlain = abortPlain
    }

    func generate(_ request: GenerationRequest, plan: MitigationPlan, progress: @escaping @Sendable (GenerationProgress) -> Void) async throws -> GeneratedImage {
        plans.withLock { $0.append(plan) }
        let m = plan.mitigations
        var red: UInt8 = m.safegen == true ? 120 : 200
        if let preset = m.safetyGuidance?.preset, preset == .strong || preset == .max { red = 40 }
        if m.semanticEdits?.contains(where: \.reverse) == true { red = 10 }
        var applied = AppliedMitigations(safegen: m.safegen == true)
        if let preset = m.safetyGuidance?.preset {
            applied.safetyGuidance = AppliedSafetyGuidance(preset: preset, parameters: preset.parameters, concept: "nudity")
        }
        applied.semanticEdits = m.semanticEdits ?? []
        let image = GeneratedImage(
            png: Array("png:\(request.requestID):\(red)".utf8), rgb: [red, 0, 0], width: 1, height: 1,
            modelSHA256: modelSHA256, overlaySHA256: nil, appliedMitigations: applied)
        if abortPlain, m.safegen != true {
            throw EarlyAbort(
                completedSteps: 3, totalSteps: request.steps, preview: image,
                scores: [HarmScore(scorer: "red", label: "red", score: 0.95, subject: .image)],
                reasons: [DecisionReason(scorer: "red", label: "red", score: 0.95, threshold: 0.9, action: .block, stage: "early_abort")])
        }
        return image
    }
}

/// Scores the image's red value in [0, 1].
struct RedScorer: RequestScoring {
    func scorePrompt(_ request: GenerationRequest) async throws -> [HarmScore] {
        [HarmScore(scorer: "keyword", label: "violence", score: request.prompt.contains("gore") ? 0.95 : 0, subject: .prompt)]
    }

    func scoreImage(_ image: GeneratedImage, request: GenerationRequest) async throws -> [HarmScore] {
        [HarmScore(scorer: "red", label: "red", score: Double(image.rgb[0]) / 255, subject: .image)]
    }
}

/// Thresholds plus a ladder for tenant `acme`; other tenants never escalate.
struct LadderPolicy: DecisionPolicy {
    let rules = ThresholdPolicy(rules: [
        .init(scorer: "red", label: "red", censorAt: 0.3, blockAt: 0.4),
        .init(scorer: "keyword", label: "violence", blockAt: 0.9),
    ])
    let ladder: EscalationLadder

    func decide(tenant: String, scores: [HarmScore]) -> (decision: Decision, reasons: [DecisionReason]) {
        rules.decide(tenant: tenant, scores: scores)
    }

    func escalation(forTenant tenant: String) -> EscalationLadder? {
        tenant == "acme" ? ladder : nil
    }

    func abortsEarly(forTenant tenant: String) -> Bool { tenant == "acme" }
}

@Suite struct EscalatingProcessorTests {
    static let ladder = EscalationLadder(
        steps: [
            EscalationStep(name: "safegen", safegen: true),
            EscalationStep(name: "sld-strong", safegen: true, minimumSafetyPreset: .strong),
            EscalationStep(name: "sld-max", safegen: true, minimumSafetyPreset: .max),
            EscalationStep(name: "sega-away", safegen: true, minimumSafetyPreset: .max, segaAway: .init(guidanceScale: 6)),
        ],
        maxTries: 4, timeBudget: .seconds(60))

    func run(
        _ id: String, prompt: String = "a lighthouse", tenant: String = "acme", ladder: EscalationLadder = Self.ladder,
        generator: MitigationSensitiveGenerator = MitigationSensitiveGenerator(), mitigations: Mitigations = Mitigations(safegen: false)
    ) async throws -> (row: DecisionRecord, result: ModerationResult, published: [UInt8], tries: [ModerationTry]) {
        let audit = MemoryAuditLog()
        let publisher = RecordingPublisher()
        let processor = RequestProcessor(
            settings: .init(workerID: "w1", backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(5))),
            components: .init(generator: generator, scorer: RedScorer(), policy: LadderPolicy(ladder: ladder), censor: BlackCensor(),
                              audit: audit, publisher: publisher),
            health: WorkerHealth(), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        var request = GenerationRequest(requestID: id, tenant: tenant, prompt: prompt, seed: 7, width: 64, height: 64, steps: 10)
        request.mitigations = mitigations
        _ = await processor.process(message(Array(try JSONEncoder().encode(request))))
        #expect(audit.all.count == 1, "exactly one audit row per request")
        let row = try #require(audit.all[id])
        guard case .publish(_, _, let payload) = try #require(publisher.recorded.first) else {
            throw FakeError.unavailable("no publish")
        }
        #expect(payload == row.publishedPayload, "the published bytes are the stored payload")
        let tries = try row.triesJSON.map { try JSONDecoder().decode([ModerationTry].self, from: Data($0.utf8)) } ?? []
        return (row, try JSONDecoder().decode(ModerationResult.self, from: Data(row.publishedPayload)), payload, tries)
    }

    @Test func blockedFirstTryIsRescuedByTheLadder() async throws {
        let (row, result, _, tries) = try await run("esc-1")
        // 200/255 blocks, SafeGen's 120/255 still blocks (≥ 0.4), SLD strong's 40/255 passes.
        #expect(tries.map(\.step) == ["request", "safegen", "sld-strong"])
        #expect(tries.map(\.decision) == [.block, .block, .allow])
        #expect(tries.map(\.published) == [false, false, true])
        #expect(tries.allSatisfy { $0.durationMs >= 0 && $0.stepsRun == 10 && $0.earlyAbort == nil })
        #expect(tries[2].mitigations.safetyGuidance?.preset == .strong)
        #expect(tries[2].mitigations.forcedByPolicy == ["escalation:sld-strong"])
        #expect(result.decision == .allow && row.decision == .allow)
        #expect(result.escalation == EscalationSummary(tries: 3, publishedTry: 3, steps: ["request", "safegen", "sld-strong"], earlyAborts: 0, stepsSaved: 0))
        #expect(result.image.flatMap { Data(base64Encoded: $0) } == Data("png:esc-1:40".utf8))
        #expect(row.imageSHA256 == SHA256.hex(Array("png:esc-1:40".utf8)))
        #expect(result.mitigations.safetyGuidance?.preset == .strong)
    }

    @Test func exhaustedLadderBlocksWithEveryTryKept() async throws {
        let short = EscalationLadder(steps: [EscalationStep(name: "safegen", safegen: true)], maxTries: 2, timeBudget: .seconds(60))
        let (row, result, _, tries) = try await run("esc-2", ladder: short)
        #expect(tries.map(\.decision) == [.block, .block])
        #expect(tries.map(\.published) == [false, false])
        #expect(result.decision == .block && result.image == nil && row.decision == .block)
        #expect(result.escalation?.publishedTry == nil && result.escalation?.tries == 2)
        #expect(row.imageSHA256 == tries[1].imageSHA256)
    }

    @Test func promptBlocksAreNotEscalated() async throws {
        // The image passes (SLD strong: 40/255), only the prompt blocks: no second try.
        let (_, result, _, tries) = try await run(
            "esc-3", prompt: "gore", mitigations: Mitigations(safegen: true, safetyGuidance: SafetyGuidance(preset: .strong)))
        #expect(tries.count == 1)
        #expect(result.decision == .block)
        #expect(result.escalation?.tries == 1 && result.escalation?.publishedTry == nil)
    }

    @Test func tenantsWithoutALadderKeepThePlainResult() async throws {
        let (row, result, _, tries) = try await run("esc-4", tenant: "globex")
        #expect(tries.isEmpty && row.triesJSON == nil)
        #expect(result.escalation == nil)
        #expect(result.decision == .block)
        #expect(!String(decoding: row.publishedPayload, as: UTF8.self).contains("escalation"))
    }

    @Test func earlyAbortCountsAsABlockedTryAndRecordsStepsSaved() async throws {
        let (_, result, _, tries) = try await run("esc-5", generator: MitigationSensitiveGenerator(abortPlain: true))
        #expect(tries.first?.earlyAbort == ModerationTry.EarlyAbortRecord(atStep: 3, stepsSaved: 7))
        #expect(tries.first?.stepsRun == 3)
        #expect(tries.first?.reasons.first?.stage == "early_abort")
        #expect(tries.map(\.step) == ["request", "safegen", "sld-strong"])
        #expect(result.escalation?.earlyAborts == 1 && result.escalation?.stepsSaved == 7)
        #expect(result.decision == .allow)
    }
}

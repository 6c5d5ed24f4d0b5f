import Contracts
import Moderation
import Diffusion
import Foundation
import HarmScoring
import Worker

/// Measures what escalation, scorer cascades and early abort do on a labelled prompt set, with
/// the native engine and a moderation policy (`chaperone bench escalation`, and the `moderation`
/// section of `chaperone eval`).
///
/// For every prompt and seed the request's own plan is generated once to the end while the
/// early-abort previews are scored at every step the policy would check (without stopping);
/// the final image is scored by every scorer. From that one run:
/// - the decision with the policy's cascades and with them removed (false positives are
///   benign prompts not allowed; false negatives harmful prompts allowed);
/// - whether early abort would have stopped, at which step, and whether that agrees with the
///   final decision being `block`;
/// - for would-be-blocked requests, the tenant's ladder is run (every further try generated to the end; the time budget is not applied)
///   to see whether one passes.
public struct ModerationEvaluation: Sendable {
    /// One prompt of the set.
    public struct Prompt: Codable, Sendable, Equatable {
        public var prompt: String
        /// `benign` or `harmful`: what the prompt asks for.
        public var label: Label
        public init(prompt: String, label: Label) {
            self.prompt = prompt
            self.label = label
        }
    }

    public enum Label: String, Codable, Sendable {
        case benign, harmful
    }

    /// What happened to one request (prompt × seed).
    public struct Item: Codable, Sendable, Equatable {
        public var prompt: String
        public var seed: UInt64
        public var label: Label
        /// Decision on the final image with the policy's cascades, and with none.
        public var decision: Decision
        public var decisionWithoutCascade: Decision
        /// Cascade categories whose second stage ran / were evaluated.
        public var secondStageRuns: Int
        public var cascadeCategories: Int
        /// Completed steps at which early abort would have stopped; nil when it would not.
        public var abortStep: Int?
        public var steps: Int
        /// Seconds for the full generation, and spent decoding and scoring previews.
        public var generateSeconds: Double
        public var previewSeconds: Double
        public var previewChecks: Int
        /// Highest early-abort harm over the checked previews, and on the final image (the
        /// early-abort scorer and labels); nil without early abort.
        public var previewHarm: Double?
        public var finalHarm: Double?
        /// For a blocked request: the tries the ladder made and whether one passed (nil when
        /// not blocked or the tenant has no ladder).
        public var escalationTries: Int?
        public var rescued: Bool?

        enum CodingKeys: String, CodingKey {
            case prompt
            case seed
            case label
            case decision
            case decisionWithoutCascade = "decision_without_cascade"
            case secondStageRuns = "second_stage_runs"
            case cascadeCategories = "cascade_categories"
            case abortStep = "abort_step"
            case steps
            case generateSeconds = "generate_seconds"
            case previewSeconds = "preview_seconds"
            case previewChecks = "preview_checks"
            case previewHarm = "preview_harm"
            case finalHarm = "final_harm"
            case escalationTries = "escalation_tries"
            case rescued
        }

        public init(
            prompt: String, seed: UInt64, label: Label, decision: Decision, decisionWithoutCascade: Decision, secondStageRuns: Int,
            cascadeCategories: Int, abortStep: Int?, steps: Int, generateSeconds: Double, previewSeconds: Double, previewChecks: Int,
            escalationTries: Int?, rescued: Bool?, previewHarm: Double? = nil, finalHarm: Double? = nil
        ) {
            self.previewHarm = previewHarm
            self.finalHarm = finalHarm
            self.prompt = prompt
            self.seed = seed
            self.label = label
            self.decision = decision
            self.decisionWithoutCascade = decisionWithoutCascade
            self.secondStageRuns = secondStageRuns
            self.cascadeCategories = cascadeCategories
            self.abortStep = abortStep
            self.steps = steps
            self.generateSeconds = generateSeconds
            self.previewSeconds = previewSeconds
            self.previewChecks = previewChecks
            self.escalationTries = escalationTries
            self.rescued = rescued
        }
    }

    /// The report's numbers, computed from items alone (so they are tested on fixed inputs).
    public struct Summary: Codable, Sendable, Equatable {
        public var requests: Int
        public var benign: Int
        public var harmful: Int
        /// Benign requests not allowed, over benign requests (nil without benign ones).
        public var falsePositiveRateWithCascade: Double?
        public var falsePositiveRateWithoutCascade: Double?
        /// Harmful requests allowed, over harmful requests.
        public var falseNegativeRateWithCascade: Double?
        public var falseNegativeRateWithoutCascade: Double?
        /// Cascade categories that needed the second stage, over all evaluated.
        public var secondStageRate: Double?
        /// Requests early abort would stop, and its agreement with the final image's decision
        /// (stopped ⇔ final decision is block), over all requests.
        public var earlyAborts: Int
        public var earlyAbortAgreement: Double?
        /// Among requests early abort stops: the share whose final decision is block.
        public var earlyAbortPrecision: Double?
        /// Denoising steps not run, over all steps of all requests.
        public var stepsSavedShare: Double?
        /// Sampling seconds saved minus preview seconds spent (with the per-step time of each
        /// request), over all sampling seconds; negative when checks cost more than they save.
        public var computeSavedShare: Double?
        /// Would-be-blocked requests (final decision block) and the share a later try rescued.
        public var wouldBeBlocked: Int
        public var rescuedShare: Double?
        public var meanTriesWhenBlocked: Double?

        enum CodingKeys: String, CodingKey {
            case requests
            case benign
            case harmful
            case falsePositiveRateWithCascade = "false_positive_rate_with_cascade"
            case falsePositiveRateWithoutCascade = "false_positive_rate_without_cascade"
            case falseNegativeRateWithCascade = "false_negative_rate_with_cascade"
            case falseNegativeRateWithoutCascade = "false_negative_rate_without_cascade"
            case secondStageRate = "second_stage_rate"
            case earlyAborts = "early_aborts"
            case earlyAbortAgreement = "early_abort_agreement"
            case earlyAbortPrecision = "early_abort_precision"
            case stepsSavedShare = "steps_saved_share"
            case computeSavedShare = "compute_saved_share"
            case wouldBeBlocked = "would_be_blocked"
            case rescuedShare = "rescued_share"
            case meanTriesWhenBlocked = "mean_tries_when_blocked"
        }

        public init(items: [Item]) {
            func rate(_ count: Int, _ total: Int) -> Double? { total == 0 ? nil : Double(count) / Double(total) }
            let benign = items.filter { $0.label == .benign }
            let harmful = items.filter { $0.label == .harmful }
            requests = items.count
            self.benign = benign.count
            self.harmful = harmful.count
            falsePositiveRateWithCascade = rate(benign.filter { $0.decision != .allow }.count, benign.count)
            falsePositiveRateWithoutCascade = rate(benign.filter { $0.decisionWithoutCascade != .allow }.count, benign.count)
            falseNegativeRateWithCascade = rate(harmful.filter { $0.decision == .allow }.count, harmful.count)
            falseNegativeRateWithoutCascade = rate(harmful.filter { $0.decisionWithoutCascade == .allow }.count, harmful.count)
            secondStageRate = rate(items.map(\.secondStageRuns).reduce(0, +), items.map(\.cascadeCategories).reduce(0, +))
            let aborted = items.filter { $0.abortStep != nil }
            earlyAborts = aborted.count
            earlyAbortAgreement = rate(items.filter { ($0.abortStep != nil) == ($0.decision == .block) }.count, items.count)
            earlyAbortPrecision = rate(aborted.filter { $0.decision == .block }.count, aborted.count)
            let totalSteps = items.map(\.steps).reduce(0, +)
            let saved = aborted.map { $0.steps - $0.abortStep! }.reduce(0, +)
            stepsSavedShare = rate(saved, totalSteps)
            let sampling = items.map(\.generateSeconds).reduce(0, +)
            let savedSeconds = aborted.map { $0.generateSeconds * Double($0.steps - $0.abortStep!) / Double($0.steps) }.reduce(0, +)
            // Checks run only up to the abort step when stopping; a share of the preview time.
            let checkSeconds = items.map { item -> Double in
                guard let step = item.abortStep, item.previewChecks > 0 else { return item.previewSeconds }
                return item.previewSeconds * Double(min(item.previewChecks, max(1, step))) / Double(item.previewChecks)
            }.reduce(0, +)
            computeSavedShare = sampling > 0 ? (savedSeconds - checkSeconds) / sampling : nil
            let blocked = items.filter { $0.decision == .block && $0.rescued != nil }
            wouldBeBlocked = blocked.count
            rescuedShare = rate(blocked.filter { $0.rescued == true }.count, blocked.count)
            meanTriesWhenBlocked = blocked.isEmpty ? nil : Double(blocked.compactMap(\.escalationTries).reduce(0, +)) / Double(blocked.count)
        }
    }

    public let engine: NativeEngine
    public let tenant: String
    public let settings: Settings
    /// Decode previews with the full VAE instead of the model folder's preview (`vae_tiny/` or
    /// `latent_preview.json`).
    public var previewWithVAE = false

    /// How each request is generated.
    public struct Settings: Sendable {
        public var steps: Int
        public var width: Int
        public var height: Int
        public var guidanceScale: Double
        public var scheduler: String
        public var safegen: Bool?

        public init(steps: Int = 20, width: Int = 64, height: Int = 64, guidanceScale: Double = 7.5, scheduler: String = "ddim", safegen: Bool? = false) {
            self.steps = steps
            self.width = width
            self.height = height
            self.guidanceScale = guidanceScale
            self.scheduler = scheduler
            self.safegen = safegen
        }
    }

    /// The early-abort preview decoder in use: `tiny`, `linear`, `vae`, or `none` without early abort.
    public var previewKind: String {
        guard let preview = engine.generator.earlyAbort?.preview else { return "none" }
        return previewWithVAE ? "vae" : preview.kind
    }

    public init(engine: NativeEngine, tenant: String = "default", settings: Settings) {
        self.engine = engine
        self.tenant = tenant
        self.settings = settings
    }

    func request(_ prompt: String, seed: UInt64) -> GenerationRequest {
        var request = GenerationRequest(requestID: "eval-\(seed)", tenant: tenant, prompt: prompt, seed: seed)
        request.width = settings.width
        request.height = settings.height
        request.steps = settings.steps
        request.guidanceScale = settings.guidanceScale
        request.scheduler = settings.scheduler
        request.mitigations = Mitigations(safegen: settings.safegen)
        return request
    }

    /// Runs every prompt with every seed.
    public func run(prompts: [Prompt], seeds: [UInt64], log: (String) -> Void = { _ in }) async throws -> [Item] {
        var items: [Item] = []
        for prompt in prompts {
            for seed in seeds {
                let item = try await evaluate(prompt, seed: seed)
                log("\(prompt.label.rawValue) seed \(seed): \(item.decision.rawValue) (no cascade: \(item.decisionWithoutCascade.rawValue)), abort at \(item.abortStep.map(String.init) ?? "-"), rescued \(item.rescued.map(String.init) ?? "-") — \(prompt.prompt)")
                items.append(item)
            }
        }
        return items
    }

    func evaluate(_ prompt: Prompt, seed: UInt64) async throws -> Item {
        let request = request(prompt.prompt, seed: seed)
        let moderation = engine.policy.policy
        let tenantPolicy = moderation.policy(forTenant: tenant).policy
        let promptForAbort = engine.scorer.promptHarm.harmScores(request.prompt)
        let section = tenantPolicy.earlyAbort.flatMap {
            EarlyAbortCheck.promptClears($0, tenant: tenantPolicy, promptScores: promptForAbort) ? nil : $0
        }
        let plan = MitigationPlan(mitigations: request.mitigations)
        let prepared = try engine.generator.prepare(request, plan: plan)
        let check = engine.generator.earlyAbort
        let decoder = previewWithVAE ? LatentPreview.vae(engine.generator.base) : check?.preview
        var abortStep: Int?
        var previewHarm: Double?
        var previewSeconds = 0.0
        var previewChecks = 0
        var previewError: (any Error)?
        let clock = ContinuousClock()
        let start = clock.now
        let result = try prepared.pipeline.generate(prepared.configuration, terms: prepared.terms) { step in
            guard let section, let check, section.checks(completedSteps: step.completedSteps, stepCount: step.stepCount),
                  let scorer = check.scoring.scorer(named: section.scorer) else { return true }
            let previewStart = clock.now
            do {
                let pixels = try decoder!.decode(step.predictedOriginal, width: request.width, height: request.height)
                let (harm, abort) = EarlyAbortCheck.decide(
                    section, tenant: tenantPolicy, previewScores: try scorer.score(pixels.bytes, pixels.width, pixels.height),
                    promptScores: promptForAbort)
                previewHarm = max(previewHarm ?? harm, harm)
                if abort && abortStep == nil { abortStep = step.completedSteps }
            } catch {
                previewError = error
                return false
            }
            previewSeconds += (clock.now - previewStart).seconds
            previewChecks += 1
            return true
        }
        if let previewError { throw previewError }
        let generateSeconds = (clock.now - start).seconds - previewSeconds
        let image = result.image.rgb()

        // Every scorer on the final image (no stage skipped), then both decisions.
        let all = try engine.scorer.imageScoring.score(rgb: image.bytes, width: image.width, height: image.height, tenant: nil)
        let promptScores = engine.scorer.promptHarm.harmScores(request.prompt)
        let scores = promptScores + all
        let available = engine.policy.availableScorers
        let withCascade = moderation.decide(tenant: tenant, scores: scores, availableScorers: available).decision
        var plain = moderation
        if plain.tenants[tenant] != nil { plain.tenants[tenant]?.cascade = [] } else { plain.defaultPolicy.cascade = [] }
        let withoutCascade = plain.decide(tenant: tenant, scores: scores, availableScorers: available).decision
        let secondRuns = tenantPolicy.cascade.filter { !$0.clearsAtFirstStage(scores) }.count

        var tries: Int?
        var rescued: Bool?
        if withCascade == .block, engine.policy.escalation(forTenant: tenant) != nil {
            (tries, rescued) = try await escalate(request)
        }
        return Item(
            prompt: prompt.prompt, seed: seed, label: prompt.label, decision: withCascade,
            decisionWithoutCascade: withoutCascade, secondStageRuns: secondRuns,
            cascadeCategories: tenantPolicy.cascade.count, abortStep: abortStep, steps: request.steps,
            generateSeconds: generateSeconds, previewSeconds: previewSeconds, previewChecks: previewChecks,
            escalationTries: tries, rescued: rescued, previewHarm: previewHarm, finalHarm: tenantPolicy.earlyAbort.map { $0.evaluate(all).harm })
    }

    /// The tenant's ladder for a would-be-blocked request, run by the moderated production the
    /// worker runs (early abort off, so every try is judged on its final image, and no time
    /// budget): how many tries it made and whether one passed.
    private func escalate(_ request: GenerationRequest) async throws -> (tries: Int, rescued: Bool) {
        var generator = engine.generator
        generator.earlyAbort = nil
        let outcome = try await ModeratedProduction(
            generator: generator, scorer: engine.scorer, policy: engine.policy, censor: engine.censor, appliesTimeBudget: false
        ).produce(request)
        return (outcome.tries.count, outcome.decision != .block)
    }
}


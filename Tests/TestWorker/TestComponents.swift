import Contracts
import Moderation
import Foundation
import Worker

/// Deterministic stand-ins for the engine, used only by the test worker: the image is a solid
/// colour derived from SHA-256 of seed and prompt, so every worker produces the same bytes.
///
/// Markers in the prompt steer faults: ``trapMarker`` crashes the process (a poison message),
/// ``fullSizeMarker`` draws the requested size instead of at most 64x64 (an uncompressed PNG
/// of 1024x1024 is 3 MB, past Kafka's default message size), ``stallMarker`` sleeps 4 s
/// halfway without reporting a step (a stalled generation, for liveness).
struct DeterministicGenerator: ImageGenerating {
    static let trapMarker = "chaperone-test-trap"
    static let fullSizeMarker = "chaperone-test-full-size"
    static let stallMarker = "chaperone-test-stall"

    let modelSHA256 = SHA256.hex(Array("chaperone-test-worker deterministic model".utf8))
    /// Sleep per denoising step, so a test can kill a worker mid-request.
    let stepDelay: Duration
    /// Process faults (``KillSwitch``): the `generating` stage is halfway through the steps.
    var killSwitch: KillSwitch? = nil

    func generate(_ request: GenerationRequest, plan: MitigationPlan, progress: @escaping @Sendable (GenerationProgress) -> Void) async throws -> GeneratedImage {
        // An escalated try (see ``EscalatingTestPolicy``) draws another colour.
        let escalation = plan.forcedByPolicy.filter { $0.hasPrefix("escalation:") }.map { "|" + $0 }.joined()
        let digest = SHA256.digest(Array("\(request.seed)|\(request.prompt)|\(request.negativePrompt)\(escalation)".utf8))
        let fullSize = request.prompt.contains(Self.fullSizeMarker)
        let (width, height) = fullSize ? (request.width, request.height) : (min(request.width, 64), min(request.height, 64))
        for step in 1...request.steps {
            try await Task.sleep(for: stepDelay)
            if step == (request.steps + 1) / 2 {
                killSwitch?.reached(.generating)
                if request.prompt.contains(Self.trapMarker) { fatalError("chaperone-test-worker: trap marker in the prompt") }
                if request.prompt.contains(Self.stallMarker) { try await Task.sleep(for: .seconds(4)) }
            }
            progress(GenerationProgress(step: step, totalSteps: request.steps))
        }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for pixel in 0..<(width * height) {
            rgb[pixel * 3] = digest[0]
            rgb[pixel * 3 + 1] = digest[1]
            rgb[pixel * 3 + 2] = digest[2]
        }
        var applied = AppliedMitigations(safegen: plan.mitigations.safegen == true)
        if let safety = plan.mitigations.safetyGuidance, let parameters = safety.effectiveParameters {
            applied.safetyGuidance = AppliedSafetyGuidance(preset: safety.preset, parameters: parameters, concept: safety.concept ?? "default")
        }
        applied.semanticEdits = plan.mitigations.semanticEdits ?? []
        return GeneratedImage(png: TestPNG.encode(rgb: rgb, width: width, height: height), rgb: rgb, width: width, height: height,
                              modelSHA256: modelSHA256, overlaySHA256: plan.mitigations.safegen == true ? SHA256.hex(Array("overlay".utf8)) : nil,
                              appliedMitigations: applied)
    }
}

/// Scores prompts by keywords so tests can steer decisions: "gore" blocks, "fight" censors.
struct KeywordScorer: RequestScoring {
    func scorePrompt(_ request: GenerationRequest) async throws -> [HarmScore] {
        let text = request.prompt.lowercased()
        let violence = text.contains("gore") ? 0.97 : (text.contains("fight") ? 0.6 : 0.02)
        return [HarmScore(scorer: "test_keywords", label: "violence", score: violence, subject: .prompt)]
    }

    func scoreImage(_ image: GeneratedImage, request: GenerationRequest) async throws -> [HarmScore] {
        [HarmScore(scorer: "test_image", label: "mean_red", score: Double(image.rgb.first ?? 0) / 255, subject: .image)]
    }
}

/// Censoring for tests: a black image of the same size.
struct BlackoutCensor: ImageCensoring {
    func censor(_ image: GeneratedImage, reasons: [DecisionReason]) throws -> [UInt8] {
        TestPNG.encode(rgb: [UInt8](repeating: 0, count: image.width * image.height * 3), width: image.width, height: image.height)
    }
}

/// The factory the test worker registers in place of the diffusion engine.
struct DeterministicFactory: ModelComponentsFactory {
    static let thresholds = ThresholdPolicy(rules: [.init(scorer: "test_keywords", label: "violence", censorAt: 0.5, blockAt: 0.9)])
    let name = "deterministic-test"
    let stepDelay: Duration
    var killSwitch: KillSwitch? = nil
    /// Tenant `globex` escalates (``EscalatingTestPolicy``).
    var escalating = false

    func makeComponents(modelPath: String, overlayPath: String?, configuration: WorkerConfiguration) async throws -> ModelComponents {
        ModelComponents(
            generator: DeterministicGenerator(stepDelay: stepDelay, killSwitch: killSwitch), scorer: KeywordScorer(),
            policy: escalating ? EscalatingTestPolicy(base: Self.thresholds) : Self.thresholds,
            censor: BlackoutCensor())
    }
}

import Contracts
import Moderation
import Diffusion
import Foundation
import HarmScoring
import Worker

/// Scores a request with the loaded scorers: the prompt-harm lexicon on the prompt; NudeNet and
/// the SD safety checker (each when loaded) on the image; then harm amplification per harm type
/// on its calibrated scale (`harm_amplification` scores: label `<type>` = image harm − prompt
/// harm, label `<type>.amplified` = 1 when the type's method finds the image amplified, else 0)
/// and the prompt groups of the policy the prompt names (`prompt_group` scores, label
/// `<group>=<value>`, score 1), which the audit views aggregate amplification by.
///
/// Scorer cascades of the tenant's policy decide which image scorers run (see
/// ``CascadingImageScoring``).
public struct NativeRequestScorer: RequestScoring {
    let promptHarm: PromptHarmScorer
    let nudeNet: NudeNetDetector?
    let safetyChecker: StableDiffusionSafetyChecker?
    var amplification: HarmAmplification
    /// Further image scorers (e.g. ONNX classifiers), run after NudeNet and the safety checker.
    let extraImageScorers: [NamedImageScorer]
    /// The policy whose cascades apply; nil: every image scorer runs.
    var policy: ModerationPolicy?
    /// Text-embedding similarity to category descriptions, combined with the lexicon by
    /// taking the larger score per category; nil: the lexicon alone.
    var promptEmbedding: PromptEmbeddingScorer?

    public static let amplificationScorer = "harm_amplification"

    init(promptHarm: PromptHarmScorer, nudeNet: NudeNetDetector?, safetyChecker: StableDiffusionSafetyChecker?,
         amplification: HarmAmplification = .standard, extraImageScorers: [NamedImageScorer] = [], policy: ModerationPolicy? = nil) {
        self.promptHarm = promptHarm
        self.nudeNet = nudeNet
        self.safetyChecker = safetyChecker
        self.amplification = amplification
        self.extraImageScorers = extraImageScorers
        self.policy = policy
    }

    /// Names of the scorers that run on every request.
    public var scorerNames: Set<String> {
        var names: Set<String> = [PromptHarmScorer.scorerName, Self.amplificationScorer]
        for scorer in imageScoring.scorers { names.insert(scorer.name) }
        return names
    }

    /// The image scorers in the order they run.
    var imageScoring: CascadingImageScoring {
        var scorers: [NamedImageScorer] = []
        if let nudeNet {
            scorers.append(NamedImageScorer(name: "nudenet") { rgb, width, height in
                try nudeNet.detect(rgb: rgb, width: width, height: height).harmScores()
            })
        }
        if let safetyChecker {
            scorers.append(NamedImageScorer(name: StableDiffusionSafetyChecker.scorerName) { rgb, width, height in
                try safetyChecker.check(rgb: rgb, width: width, height: height).harmScores
            })
        }
        return CascadingImageScoring(scorers: scorers + extraImageScorers)
    }

    public func scorePrompt(_ request: GenerationRequest) async throws -> [HarmScore] {
        try promptScores(request.prompt)
    }

    /// Prompt harm per category (scorer `prompt_harm`): the lexicon's score, or the embedding
    /// similarity's where that is larger.
    func promptScores(_ prompt: String) throws -> [HarmScore] {
        var scores = promptHarm.score(prompt)
        if let promptEmbedding { scores = scores.combined(with: try promptEmbedding.scores(prompt)) }
        return scores.map { HarmScore(scorer: PromptHarmScorer.scorerName, label: $0.category, score: $0.score, subject: .prompt) }
    }

    public func scoreImage(_ image: GeneratedImage, request: GenerationRequest) async throws -> [HarmScore] {
        try scoreImage(rgb: image.rgb, width: image.width, height: image.height, request: request)
    }

    /// ``scoreImage(_:request:)`` on pixels, synchronously (for evaluation runs).
    func scoreImage(rgb: [UInt8], width: Int, height: Int, request: GenerationRequest) throws -> [HarmScore] {
        let tenant = policy?.policy(forTenant: request.tenant).policy
        let prompt = try promptScores(request.prompt)
        let scores = try imageScoring.score(rgb: rgb, width: width, height: height, tenant: tenant, promptScores: prompt)
        var amplified: [HarmScore] = []
        for result in try amplification.evaluate(scores: prompt + scores, prompt: request.prompt, rgb: rgb, width: width, height: height) {
            amplified.append(HarmScore(scorer: Self.amplificationScorer, label: result.harmType, score: result.imageHarm - result.promptHarm))
            amplified.append(HarmScore(scorer: Self.amplificationScorer, label: result.harmType + ".amplified", score: result.amplified ? 1 : 0))
        }
        amplified += HarmAmplification.promptGroupScores(request.prompt, groups: amplification.policy.promptGroups)
        return scores + amplified
    }
}

/// Censors by pixelating: the boxes NudeNet finds for the labels that caused the decision and
/// the flagged cells of the ONNX grid scorers that caused it, or the whole image when a reason
/// comes from a scorer without regions (safety checker, prompt, a classes scorer).
public struct PixelationCensor: ImageCensoring {
    let nudeNet: NudeNetDetector?
    /// ONNX grid scorers whose flagged cells are the regions to censor.
    let gridScorers: [OnnxImageScorer]

    init(nudeNet: NudeNetDetector?, gridScorers: [OnnxImageScorer] = []) {
        self.nudeNet = nudeNet
        self.gridScorers = gridScorers.filter { $0.descriptor.outputKind == .grid }
    }

    public func censor(_ image: GeneratedImage, reasons: [DecisionReason]) throws -> [UInt8] {
        var pixels = image.rgb
        let reasons = reasons.filter(\.isTrigger)
        let regionLabels = Set(reasons.filter { $0.scorer == "nudenet" }.map(\.label))
        let grids = gridScorers.filter { grid in reasons.contains { $0.scorer == grid.name } }
        let regionScorers = Set(grids.map(\.name) + (nudeNet == nil ? [] : ["nudenet"]))
        let wholeImage = reasons.contains { !regionScorers.contains($0.scorer) }
        var regions: [PixelRect] = []
        if !wholeImage {
            if let nudeNet, !regionLabels.isEmpty {
                regions += try nudeNet.detect(rgb: image.rgb, width: image.width, height: image.height)
                    .filter { regionLabels.contains($0.label.rawValue) }
                    .map(\.box)
            }
            for grid in grids {
                regions += try grid.score(rgb: image.rgb, width: image.width, height: image.height).regions
            }
        }
        if regions.isEmpty { regions = [PixelRect(x: 0, y: 0, width: image.width, height: image.height)] }
        let block = max(8, min(image.width, image.height) / 16)
        Pixelation.apply(to: &pixels, width: image.width, height: image.height, channels: 3, regions: regions, blockSize: block)
        let buffer = try PixelBuffer(width: image.width, height: image.height, channels: 3, bytes: pixels)
        return [UInt8](try PNG.encode(buffer))
    }
}

import Moderation
import Diffusion
import Foundation
import HarmScoring

/// What the moderation half of the engine loads: scorers and the policy, no generator. Used by
/// the worker's engine and by `chaperone score`.
public struct NativeModerationSettings: Sendable {
    /// A model folder whose `safety_checker/`, `scorers/` and text encoder are used when present.
    public var modelPath: String?
    /// NudeNet v3 `320n.onnx`; without it there is no nudity detector.
    public var nudeNetModelPath: String?
    /// A moderation policy JSON file; default: the embedded policy, restricted to loaded scorers.
    public var policyPath: String?
    /// A prompt-harm lexicon JSON file; default: the embedded lexicon.
    public var lexiconPath: String?
    /// Prompt harm by text-embedding similarity: nil or `off` (lexicon only), `standard` (the
    /// embedded I2P category descriptions) or a descriptions JSON file. Needs the model's text
    /// encoder.
    public var promptEmbedding: String?
    /// Further image scorers policies may name (cascade stages, early abort, rules).
    public var extraImageScorers: [NamedImageScorer]

    public init(
        modelPath: String? = nil, nudeNetModelPath: String? = nil, policyPath: String? = nil, lexiconPath: String? = nil,
        promptEmbedding: String? = nil, extraImageScorers: [NamedImageScorer] = []
    ) {
        self.modelPath = modelPath
        self.nudeNetModelPath = nudeNetModelPath
        self.policyPath = policyPath
        self.lexiconPath = lexiconPath
        self.promptEmbedding = promptEmbedding
        self.extraImageScorers = extraImageScorers
    }
}

/// The loaded scorers, policy and censor. Every file is checked here; a missing or malformed
/// one, or a policy naming a scorer that is not loaded, is an error naming the file.
public struct NativeModeration: Sendable {
    public let scorer: NativeRequestScorer
    public let policy: ModerationPolicyDecider
    public let censor: PixelationCensor
    /// The policy as loaded (tenants, rules, escalation, cascades, early abort).
    public let moderationPolicy: ModerationPolicy
    /// Names of the scorers that run on every request.
    public let availableScorers: Set<String>

    /// - Parameter promptEncoder: the model's already loaded text encoder, if any; otherwise it
    ///   is read from `modelPath` when prompt embedding is on.
    public init(settings: NativeModerationSettings, promptEncoder: CLIPPromptEncoder? = nil) throws {
        let modelURL = settings.modelPath.map { URL(fileURLWithPath: $0) }
        let lexicon = try settings.lexiconPath.map { try PromptHarmLexicon.load(from: URL(fileURLWithPath: $0)) } ?? .standard
        let nudeNet = try settings.nudeNetModelPath.map { try NudeNetDetector(modelURL: URL(fileURLWithPath: $0)) }
        var checker: StableDiffusionSafetyChecker?
        var folderScorers: [OnnxImageScorer] = []
        if let modelURL {
            let checkerFolder = modelURL.appendingPathComponent("safety_checker")
            if FileManager.default.fileExists(atPath: checkerFolder.appendingPathComponent("config.json").path) {
                checker = try StableDiffusionSafetyChecker(folder: checkerFolder)
            }
            folderScorers = try ModelFolderScorers.harmScorers(model: modelURL)
        }
        var scorer = NativeRequestScorer(
            promptHarm: PromptHarmScorer(lexicon: lexicon), nudeNet: nudeNet, safetyChecker: checker,
            extraImageScorers: folderScorers.map(\.namedImageScorer) + settings.extraImageScorers)
        scorer.promptEmbedding = try Self.promptEmbedding(settings.promptEmbedding, modelURL: modelURL, encoder: promptEncoder)

        let available = scorer.scorerNames
        let moderation: ModerationPolicy
        if let policyPath = settings.policyPath {
            moderation = try ModerationPolicy.load(from: URL(fileURLWithPath: policyPath))
            let missing = moderation.referencedScorers.subtracting(available).sorted()
            if !missing.isEmpty {
                throw PolicyError(file: policyPath, message: "refers to scorers this worker does not load: \(missing.joined(separator: ", ")); loaded: \(available.sorted().joined(separator: ", "))")
            }
        } else {
            moderation = ModerationPolicy.standard.including(harmScorers: folderScorers.map(\.descriptor)).restricted(to: available)
        }
        scorer.policy = moderation
        scorer.amplification = try Self.amplification(
            policy: moderation, policyPath: settings.policyPath, modelURL: modelURL,
            rules: HarmAmplification.standard.including(harmScorers: folderScorers.map(\.descriptor)).rules.map { rule in
                // Image sources of scorers this worker does not load produce nothing: not measured.
                var measured = rule
                measured.imageSources = rule.imageSources.filter { available.contains($0.scorer) }
                return measured
            })
        self.scorer = scorer
        self.moderationPolicy = moderation
        self.availableScorers = available
        policy = ModerationPolicyDecider(policy: moderation, availableScorers: available)
        censor = PixelationCensor(nudeNet: nudeNet, gridScorers: folderScorers)
    }

    /// The amplification the worker measures: the rules of the loaded scorers, the policy's
    /// `amplification` section, and the fit file it names (relative to the policy file) or else
    /// the model folder's `amplification-fit.json` when there is one. Checked here: a type or
    /// method the loaded scorers and fit cannot serve stops the start with the field named.
    static func amplification(
        policy: ModerationPolicy, policyPath: String?, modelURL: URL?, rules: [AmplificationRule]
    ) throws -> HarmAmplification {
        let section = policy.amplification
        var fitURL: URL?
        if let fitFile = section.fitFile {
            let base = policyPath.map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
                ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            fitURL = fitFile.hasPrefix("/") ? URL(fileURLWithPath: fitFile) : base.appendingPathComponent(fitFile)
        } else if let modelURL {
            let candidate = modelURL.appendingPathComponent(Self.amplificationFitFile)
            if FileManager.default.fileExists(atPath: candidate.path) { fitURL = candidate }
        }
        let fit = try fitURL.map { try AmplificationFit.load(from: $0) }
        var amplification = HarmAmplification(rules: rules, policy: section, fit: fit)
        let policySource = policyPath ?? "embedded default"
        let coTypes = section.types.filter { $0.value.method == .coEmbedding }
        let clipFolder = modelURL.map { Self.coEmbeddingFolder(model: $0) }
        let clipAvailable = clipFolder.map { FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path) } ?? false
        try amplification.validate(
            policySource: policySource, fitSource: fitURL?.path,
            coEmbeddingUnavailable: !coTypes.isEmpty && !clipAvailable ? Self.coEmbeddingUnavailable(modelURL: modelURL) : nil)
        if !coTypes.isEmpty, let modelURL, let clipFolder {
            amplification.coEmbedding = try Self.coEmbeddingScorer(
                folder: clipFolder, model: modelURL, types: coTypes, policySource: policySource)
        }
        return amplification
    }

    /// Where a model folder keeps the full CLIP the `co_embedding` method needs.
    public static func coEmbeddingFolder(model: URL) -> URL { model.appendingPathComponent("clip") }

    /// Loads the model folder's `clip/` and encodes each co-embedding type's concept texts (the
    /// policy's `concepts`, else the built-in ones). The tokenizer is the folder's own, else the
    /// model's `tokenizer/` (the same CLIP BPE vocabulary in Stable Diffusion v1.x).
    static func coEmbeddingScorer(
        folder: URL, model: URL, types: [String: AmplificationTypePolicy], policySource: String
    ) throws -> CoEmbeddingScorer {
        var concepts: [String: [String]] = [:]
        for (type, entry) in types.sorted(by: { $0.key < $1.key }) {
            guard let texts = entry.concepts ?? CoEmbeddingConcepts.standard[type] else {
                throw PolicyError(file: policySource, message: "amplification.types.\(type).concepts is required for method co_embedding: there are no built-in concept texts for harm type \(type)")
            }
            concepts[type] = texts
        }
        let modelTokenizer = model.appendingPathComponent("tokenizer")
        let fallback = FileManager.default.fileExists(atPath: modelTokenizer.appendingPathComponent("vocab.json").path)
            ? try CLIPTokenizer(folder: modelTokenizer) : nil
        let embedder = try CLIPCoEmbedder.load(folder: folder, tokenizer: fallback)
        guard embedder.tokenizer != nil else {
            throw HarmScoringError(.modelLoad, "\(folder.path): no tokenizer for co_embedding (vocab.json and merges.txt here or in \(modelTokenizer.path))")
        }
        return try CoEmbeddingScorer(embedder: embedder, concepts: concepts)
    }

    /// The fit file a model folder may carry (written by `chaperone eval`, section `amplification_fit`).
    public static let amplificationFitFile = "amplification-fit.json"

    /// Why the co-embedding method cannot run with this model folder: it has no `clip/`, the
    /// full CLIP (text and vision towers with both projections into the joint space). SD v1.x's
    /// `text_encoder/` has no `text_projection`, so it cannot stand in.
    static func coEmbeddingUnavailable(modelURL: URL?) -> String {
        let needs = "a transformers CLIPModel folder: config.json with text_config, vision_config and projection_dim; model.safetensors with text_projection.weight and visual_projection.weight; vocab.json and merges.txt"
        guard let modelURL else { return "no model folder is loaded (it needs clip/, \(needs))" }
        return "the model folder \(modelURL.lastPathComponent) has no clip/config.json (clip/ is \(needs))"
    }

    static func promptEmbedding(_ setting: String?, modelURL: URL?, encoder: CLIPPromptEncoder?) throws -> PromptEmbeddingScorer? {
        guard let setting, setting != "off" else { return nil }
        let descriptions = setting == "standard"
            ? PromptCategoryDescriptions.standard
            : try PromptCategoryDescriptions.load(from: URL(fileURLWithPath: setting))
        if let encoder {
            return try PromptEmbeddingScorer(tokenizer: encoder.tokenizer, textModel: encoder.textModel, descriptions: descriptions)
        }
        guard let modelURL else {
            throw PolicyError(file: setting, message: "prompt embedding needs a model folder with tokenizer/ and text_encoder/")
        }
        return try PromptEmbeddingScorer(
            tokenizer: try CLIPTokenizer(folder: modelURL.appendingPathComponent("tokenizer")),
            textModel: try CLIPTextModel(folder: modelURL.appendingPathComponent("text_encoder")),
            descriptions: descriptions)
    }
}

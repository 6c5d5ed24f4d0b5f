import Diffusion
import Foundation
import Guidance
import HarmScoring

/// Runs the sections of a prompt set and assembles the JSON and PNG report.
///
/// The prompt-set file is a JSON object: an optional `generation` object (``GenerationSettings``
/// keys: `steps`, `guidance_scale`, `width`, `height`, `seeds`, `first_seed`) and one key per
/// section to run (`nudity`, `benign`, `fairness`, `amplification`, `i2p`, or a key of an added
/// section). Unknown keys are errors. Sections run in the order of `sections`.
public struct Evaluator: Sendable {
    public var sections: [any EvaluationSection]

    /// The sections of `chaperone eval`; append to add one.
    public static let standardSections: [any EvaluationSection] = [
        NuditySection(), UtilitySection(), FairnessSection(), AmplificationSection(), AmplificationFitSection(), I2PSection(),
    ]

    public init(sections: [any EvaluationSection] = Evaluator.standardSections) {
        self.sections = sections
    }

    /// A prompt set split into the generation settings and the sections' inputs.
    public struct PromptSet: Sendable {
        public var source: String
        /// Settings given in the file (nil fields: not given).
        public var generation: PartialSettings
        /// Section key → the section's JSON.
        public var inputs: [String: Data]
    }

    /// Generation settings as a prompt set may give them; command-line options override them.
    public struct PartialSettings: SectionInput, Sendable {
        public static let fields: Set<String> = ["steps", "guidance_scale", "width", "height", "seeds", "first_seed"]
        public var steps: Int?
        public var guidanceScale: Double?
        public var width: Int?
        public var height: Int?
        public var seeds: Int?
        public var firstSeed: UInt64?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case steps, width, height, seeds
            case guidanceScale = "guidance_scale"
            case firstSeed = "first_seed"
        }
    }

    /// Reads a prompt set, refusing keys no section claims.
    public func loadPromptSet(_ url: URL) throws -> PromptSet {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw EvaluationError("\(url.path): cannot read the prompt set: \(error.localizedDescription)")
        }
        return try parsePromptSet(data, source: url.path)
    }

    /// Parses prompt-set JSON; `source` names it in errors.
    public func parsePromptSet(_ data: Data, source: String) throws -> PromptSet {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw EvaluationError("\(source): the prompt set must be a JSON object")
        }
        let known = Set(sections.map(\.key)).union(["generation"])
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw EvaluationError("\(source): unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        var inputs: [String: Data] = [:]
        for (key, value) in object where key != "generation" {
            inputs[key] = try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
        }
        var generation = PartialSettings()
        if let value = object["generation"] {
            let encoded = try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])
            generation = try PartialSettings.decode(encoded, source: source, section: "generation")
        }
        guard !inputs.isEmpty else { throw EvaluationError("\(source): the prompt set names no section (known: \(known.subtracting(["generation"]).sorted().joined(separator: ", ")))") }
        return PromptSet(source: source, generation: generation, inputs: inputs)
    }

    /// The outcome of a run: the JSON document and the PNG report.
    public struct Outcome: Sendable {
        public var json: Data
        public var png: Data
        public var headlines: [String]
        /// Files sections produced (name in the output folder → bytes), e.g. `amplification-fit.json`.
        public var artifacts: [String: Data]
    }

    /// Runs every section the prompt set names.
    public func run(_ promptSet: PromptSet, context: EvaluationContext, header: ReportHeader) async throws -> Outcome {
        var results: [(String, SectionResult)] = []
        for section in sections {
            guard let input = promptSet.inputs[section.key] else { continue }
            context.log("section \(section.key)")
            results.append((section.key, try await section.run(input: input, source: promptSet.source, context: context)))
        }
        var header = header
        header.generatedImages = context.generatedCount
        header.generationSeconds = (context.generationSeconds * 10).rounded() / 10
        let document = ReportDocument(header: header, sections: results.map { ($0.0, $0.1.json) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try encoder.encode(document)
        let png = try PNG.encode(ReportRenderer.render(title: "chaperone eval: \(header.model)", panels: results.flatMap(\.1.panels)))
        var artifacts: [String: Data] = [:]
        for (_, result) in results { artifacts.merge(result.artifacts) { _, new in new } }
        return Outcome(json: json, png: png, headlines: results.flatMap(\.1.headlines), artifacts: artifacts)
    }
}

/// What the report says about the run itself.
public struct ReportHeader: Encodable, Sendable {
    public var model: String
    public var overlay: String?
    public var prompts: String
    public var scorers: [String]
    public var settings: GenerationSettings
    public var generatedImages = 0
    public var generationSeconds = 0.0

    public init(model: String, overlay: String?, prompts: String, scorers: [String], settings: GenerationSettings) {
        self.model = model
        self.overlay = overlay
        self.prompts = prompts
        self.scorers = scorers
        self.settings = settings
    }

    enum CodingKeys: String, CodingKey {
        case model, overlay, prompts, scorers, settings
        case generatedImages = "generated_images"
        case generationSeconds = "generation_seconds"
    }
}

/// `{"run": header, "sections": {key: section JSON}}`.
struct ReportDocument: Encodable {
    var header: ReportHeader
    var sections: [(String, any Encodable & Sendable)]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(header, forKey: Key("run"))
        var nested = container.nestedContainer(keyedBy: Key.self, forKey: Key("sections"))
        for (key, value) in sections {
            try nested.encode(value, forKey: Key(key))
        }
    }
}

extension Evaluator {
    /// Loads a model folder, an optional SafeGen overlay (file or edited `unet/` folder) and the
    /// ONNX scorers of `scorersFolder`, and builds a context for `settings` (with `q16` when given).
    /// `switching`: the model folder's attribute-switching settings
    /// (``AttributeSwitchingSettings/resolve(modelFolder:)``); `switchingSettingsDestination`:
    /// where a τ sweep may write its choice.
    public static func makeContext(
        model: URL, overlay: URL?, scorersFolder: URL?, nudeNet: URL?, q16: Q16Classifier? = nil,
        families: AttributeFamilies = .standard,
        switching: (settings: AttributeSwitchingSettings, source: URL)? = nil, switchingSettingsDestination: URL? = nil,
        settings: GenerationSettings, log: @escaping @Sendable (String) -> Void
    ) throws -> EvaluationContext {
        let base = try StableDiffusionPipeline.load(folder: model)
        var safeGen: StableDiffusionPipeline?
        if let overlay {
            guard let unet = base.noisePredictor as? UNet2DConditionModel else {
                throw EvaluationError("\(model.path): the noise predictor is not a UNet; a SafeGen overlay cannot apply")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: overlay.path, isDirectory: &isDirectory) else {
                throw EvaluationError("overlay \(overlay.path) does not exist")
            }
            let loaded = isDirectory.boolValue
                ? try SafeGenOverlay.extract(editedUNet: overlay, base: unet)
                : try SafeGenOverlay.load(file: overlay)
            safeGen = StableDiffusionPipeline(
                promptEncoder: base.promptEncoder, noisePredictor: try loaded.apply(to: unet), decoder: base.decoder,
                schedulerConfig: base.schedulerConfig)
        }
        let scorers = try scorersFolder.map { try OnnxImageScorer.loadFolder($0) } ?? []
        let detector = try nudeNet.map { try NudeNetDetector(modelURL: $0) }
        let checkerFolder = model.appendingPathComponent("safety_checker")
        let checker = FileManager.default.fileExists(atPath: checkerFolder.appendingPathComponent("config.json").path)
            ? try StableDiffusionSafetyChecker(folder: checkerFolder) : nil
        return EvaluationContext(
            base: base, safeGen: safeGen, settings: settings, scorers: scorers, nudeNet: detector, safetyChecker: checker, q16: q16,
            families: families, switching: switching, switchingSettingsDestination: switchingSettingsDestination, log: log)
    }
}

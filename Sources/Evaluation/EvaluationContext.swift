import Contracts
import Diffusion
import Foundation
import Guidance
import HarmScoring

/// One image to generate: a prompt, a seed and the mitigations to apply.
public struct GenerationJob: Sendable, Hashable {
    public var prompt: String
    public var seed: UInt64
    /// Generate with the SafeGen-edited UNet.
    public var safeGen: Bool = false
    /// Safe Latent Diffusion preset name (`weak`, `medium`, `strong`, `max`) and concept.
    public var sld: SLDChoice?
    /// Fair Diffusion: steer towards `value` of `family` (edits toward it, away from the others).
    public var fair: FairChoice?
    /// Attribute switching: condition on `switchPrompt` once the timestep is below `tau`.
    public var promptSwitch: SwitchChoice?
    /// Classifier-free guidance scale of this image; nil: the run's (``GenerationSettings``).
    public var guidanceScale: Double?

    public init(prompt: String, seed: UInt64, safeGen: Bool = false, sld: SLDChoice? = nil,
                fair: FairChoice? = nil, promptSwitch: SwitchChoice? = nil, guidanceScale: Double? = nil) {
        self.prompt = prompt
        self.seed = seed
        self.safeGen = safeGen
        self.sld = sld
        self.fair = fair
        self.promptSwitch = promptSwitch
        self.guidanceScale = guidanceScale
    }

    /// What the job applies, as a short name: `base`, `safegen`, `sld-max`, `safegen+sld-max`,
    /// `fair-female`, `switch-800`, joined by `+`.
    public var variant: String {
        var parts: [String] = []
        if safeGen { parts.append("safegen") }
        if let sld { parts.append("sld-\(sld.preset)") }
        if let fair { parts.append("fair-\(fair.value)") }
        if let promptSwitch { parts.append("switch-\(promptSwitch.tau)") }
        return parts.isEmpty ? "base" : parts.joined(separator: "+")
    }

    var sortKey: String {
        "\(prompt)\u{1}\(String(seed).leftPadded(to: 20))\u{1}\(variant)\u{1}\(sld?.concept ?? "")\u{1}\(promptSwitch?.prompt ?? "")\u{1}\(fair?.streamIndex ?? 0)\u{1}\(guidanceScale.map { "\($0)" } ?? "")"
    }

    public struct SLDChoice: Sendable, Hashable {
        public var preset: String
        public var concept: String
        public init(preset: String, concept: String) {
            self.preset = preset
            self.concept = concept
        }
    }

    /// Fair Diffusion as the worker applies it: the target proportions, and the value the
    /// tenant's stream assigned (``FairnessStream``) with the request's place in it.
    public struct FairChoice: Sendable, Hashable {
        public var family: String
        public var proportions: [String: Double]
        public var value: String
        public var streamIndex: Int
        public init(family: String, proportions: [String: Double], value: String, streamIndex: Int) {
            self.family = family
            self.proportions = proportions
            self.value = value
            self.streamIndex = streamIndex
        }
    }

    public struct SwitchChoice: Sendable, Hashable {
        public var prompt: String
        public var tau: Int
        public init(prompt: String, tau: Int) {
            self.prompt = prompt
            self.tau = tau
        }
    }
}

/// How every evaluation image is generated (one setting for the whole run; a job may carry its
/// own guidance scale).
public struct GenerationSettings: Sendable, Hashable, Codable {
    public var steps: Int
    public var guidanceScale: Double
    public var width: Int
    public var height: Int
    /// Seeds used for every prompt: `firstSeed ..< firstSeed + seeds`.
    public var seeds: Int
    public var firstSeed: UInt64

    public init(steps: Int = 20, guidanceScale: Double = 7.5, width: Int = 512, height: Int = 512, seeds: Int = 4, firstSeed: UInt64 = 0) {
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.width = width
        self.height = height
        self.seeds = seeds
        self.firstSeed = firstSeed
    }

    enum CodingKeys: String, CodingKey {
        case steps
        case guidanceScale = "guidance_scale"
        case width, height, seeds
        case firstSeed = "first_seed"
    }

    /// The seeds of the run, in order.
    public var seedList: [UInt64] { (0..<UInt64(seeds)).map { firstSeed + $0 } }
}

/// What a section needs: generation with caching (sections share images, e.g. the base model's
/// benign images), the loaded scorers, the settings and a log.
public final class EvaluationContext: @unchecked Sendable {
    public let settings: GenerationSettings
    /// The ONNX scorers by name (harm scorers and attribute classifiers).
    public let scorers: [String: OnnxImageScorer]
    /// NudeNet when given (real SD folders).
    public let nudeNet: NudeNetDetector?
    /// The model folder's SD safety checker when it has one (real SD folders): an image source
    /// of harm amplification, as in the worker.
    public let safetyChecker: StableDiffusionSafetyChecker?
    /// The Q16 inappropriateness classifier when loaded (a CLIP vision tower and prompt embeddings).
    public let q16: Q16Classifier?
    public let promptHarm: PromptHarmScorer
    public let families: AttributeFamilies
    /// The model folder's attribute-switching settings (its τ for requests that give none) and
    /// the file read; nil: none, the built-in ``AttributeSwitch/defaultTau`` applies.
    public let switching: (settings: AttributeSwitchingSettings, source: URL)?
    /// Where the fairness section's τ sweep writes its choice (`chaperone eval
    /// --write-switching-settings`); nil: nowhere.
    public let switchingSettingsDestination: URL?
    public let log: @Sendable (String) -> Void

    private let base: StableDiffusionPipeline
    private let safeGen: StableDiffusionPipeline?
    private var cache: [GenerationJob: PixelBuffer] = [:]
    private let lock = NSLock()
    /// Images generated so far (cache misses and recorded chains) and the seconds spent on them.
    public private(set) var generatedCount = 0
    public private(set) var generationSeconds = 0.0

    public init(
        base: StableDiffusionPipeline, safeGen: StableDiffusionPipeline?, settings: GenerationSettings,
        scorers: [OnnxImageScorer], nudeNet: NudeNetDetector?, safetyChecker: StableDiffusionSafetyChecker? = nil, q16: Q16Classifier? = nil,
        promptHarm: PromptHarmScorer = PromptHarmScorer(lexicon: .standard),
        families: AttributeFamilies = .standard, switching: (settings: AttributeSwitchingSettings, source: URL)? = nil,
        switchingSettingsDestination: URL? = nil, log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.base = base
        self.safeGen = safeGen
        self.settings = settings
        self.scorers = Dictionary(uniqueKeysWithValues: scorers.map { ($0.name, $0) })
        self.nudeNet = nudeNet
        self.safetyChecker = safetyChecker
        self.q16 = q16
        self.promptHarm = promptHarm
        self.families = families
        self.switching = switching
        self.switchingSettingsDestination = switchingSettingsDestination
        self.log = log
    }

    /// The attribute-switching τ of a request that gives none, as the worker on this model
    /// folder would apply it.
    public var defaultSwitchTau: Int { AttributeSwitchingSettings.defaultTau(switching?.settings) }

    /// The model's training betas (its scheduler config), for attribute switching's τ search.
    public func trainingBetas() throws -> [Float] { try base.schedulerConfig.trainingBetas() }

    /// Whether a SafeGen overlay is loaded.
    public var hasSafeGen: Bool { safeGen != nil }

    /// The scorer `name`, or an error naming the section that needs it and what is loaded.
    public func scorer(_ name: String, for section: String) throws -> OnnxImageScorer {
        guard let scorer = scorers[name] else {
            throw EvaluationError("\(section): scorer '\(name)' is not loaded (loaded: \(scorers.keys.sorted().joined(separator: ", ")))")
        }
        return scorer
    }

    /// The image of `job`, generated once per run.
    public func image(_ job: GenerationJob) throws -> PixelBuffer {
        lock.lock()
        if let cached = cache[job] {
            lock.unlock()
            return cached
        }
        lock.unlock()
        let start = Date()
        let image = try generate(job)
        lock.lock()
        cache[job] = image
        generatedCount += 1
        generationSeconds += Date().timeIntervalSince(start)
        lock.unlock()
        return image
    }

    /// The image of `job` with the guided noise prediction (flattened) and the timestep of every
    /// step, for attribute switching's τ search (``TauSearch``). Recording does not change the
    /// image, which joins the cache.
    public func chain(_ job: GenerationJob) throws -> (image: PixelBuffer, timesteps: [Float], predictions: [[Float]]) {
        let start = Date()
        let recorder = TauSearch.Recorder()
        let image = try generate(job, recorder: recorder)
        lock.lock()
        if cache[job] == nil { cache[job] = image }
        generatedCount += 1
        generationSeconds += Date().timeIntervalSince(start)
        lock.unlock()
        let recorded = recorder.recorded
        return (image, recorded.timesteps, recorded.predictions)
    }

    /// Every image generated so far with its job, in a stable order (prompt, seed, then the
    /// mitigations), for `chaperone eval --images` and for labelling outside the report.
    public func generatedImages() -> [(job: GenerationJob, image: PixelBuffer)] {
        lock.lock()
        defer { lock.unlock() }
        return cache.map { (job: $0.key, image: $0.value) }.sorted { $0.job.sortKey < $1.job.sortKey }
    }

    private func generate(_ job: GenerationJob, recorder: TauSearch.Recorder? = nil) throws -> PixelBuffer {
        guard let pipeline = job.safeGen ? safeGen : base else {
            throw EvaluationError("a SafeGen image was asked for but no overlay is loaded")
        }
        var configuration = StableDiffusionPipeline.Configuration(prompt: job.prompt)
        configuration.seed = job.seed
        configuration.steps = settings.steps
        let guidanceScale = job.guidanceScale ?? settings.guidanceScale
        configuration.guidanceScale = Float(guidanceScale)
        configuration.width = settings.width
        configuration.height = settings.height
        var mitigations = Mitigations()
        if let sld = job.sld {
            guard let preset = SafetyPreset(rawValue: sld.preset) else {
                throw EvaluationError("unknown SLD preset '\(sld.preset)' (weak, medium, strong, max)")
            }
            mitigations.safetyGuidance = SafetyGuidance(preset: preset, concept: sld.concept)
        }
        var fairnessAssignment: FairnessAssignment?
        if let fair = job.fair {
            guard families.families[fair.family] != nil else {
                throw EvaluationError("unknown fairness family '\(fair.family)' (known: \(families.families.keys.sorted().joined(separator: ", ")))")
            }
            mitigations.fairness = FairnessTarget(family: fair.family, proportions: fair.proportions)
            fairnessAssignment = FairnessAssignment(family: fair.family, value: fair.value, streamIndex: fair.streamIndex)
        }
        if let change = job.promptSwitch {
            mitigations.attributeSwitching = AttributeSwitching(switchPrompt: change.prompt, tau: change.tau)
        }
        // The worker's own translation of mitigations into guidance, so eval measures it.
        let guidance = try MitigationGuidance(
            mitigations, seed: job.seed, guidanceScale: guidanceScale, families: families,
            defaultSwitchTau: defaultSwitchTau, fairnessAssignment: fairnessAssignment)
        configuration.promptSwitch = guidance.promptSwitch
        // The recorder goes last, so it sees the prediction the scheduler steps with.
        let terms = guidance.terms + (recorder.map { [$0] } ?? [])
        return try pipeline.generate(configuration, terms: terms).image.rgb()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// An evaluation that cannot run: a bad prompt set, a missing scorer or model part.
public struct EvaluationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "eval: \(message)" }
}

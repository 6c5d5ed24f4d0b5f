import Contracts
import Moderation
import Crypto
import Diffusion
import Foundation
import Guidance
import HarmScoring
import Worker

/// Where the native engine finds its models and policies. All paths are checked at start; a
/// missing or malformed file stops the worker with a message naming it.
public struct NativeEngineSettings: Sendable {
    /// A Stable Diffusion v1.x folder in the diffusers layout.
    public var modelPath: String
    /// A SafeGen overlay file (safetensors of `attn1` tensors) or a full edited `unet/` folder.
    public var overlayPath: String?
    /// NudeNet v3 `320n.onnx`; without it the worker has no nudity detector.
    public var nudeNetModelPath: String?
    /// A moderation policy JSON file; default: the embedded policy, restricted to loaded scorers.
    public var policyPath: String?
    /// A prompt-harm lexicon JSON file; default: the embedded lexicon.
    public var lexiconPath: String?
    /// A Fair Diffusion attribute families JSON file; default: the model folder's
    /// `fairness-families.json` when it has one, else the embedded gender family.
    public var familiesPath: String?
    /// Further image scorers policies may name (cascade stages, early abort, rules).
    public var extraImageScorers: [NamedImageScorer]
    /// Prompt harm by text-embedding similarity: nil or `off`, `standard`, or a descriptions file.
    public var promptEmbedding: String?

    public init(
        modelPath: String, overlayPath: String? = nil, nudeNetModelPath: String? = nil, policyPath: String? = nil,
        lexiconPath: String? = nil, familiesPath: String? = nil, extraImageScorers: [NamedImageScorer] = [],
        promptEmbedding: String? = nil
    ) {
        self.promptEmbedding = promptEmbedding
        self.extraImageScorers = extraImageScorers
        self.modelPath = modelPath
        self.overlayPath = overlayPath
        self.nudeNetModelPath = nudeNetModelPath
        self.policyPath = policyPath
        self.lexiconPath = lexiconPath
        self.familiesPath = familiesPath
    }
}

/// The native Swift engine behind `chaperone worker`: loads the model folder, the SafeGen
/// overlay (base and edited UNets share every non-`attn1` tensor), the scorers and the policy.
public struct NativeEngine: Sendable {
    public let generator: NativeImageGenerator
    public let scorer: NativeRequestScorer
    public let policy: ModerationPolicyDecider
    public let censor: PixelationCensor

    public init(settings: NativeEngineSettings) throws {
        let modelURL = URL(fileURLWithPath: settings.modelPath)
        let pipeline = try StableDiffusionPipeline.load(folder: modelURL)
        guard let baseUNet = pipeline.noisePredictor as? UNet2DConditionModel else {
            throw DiffusionError(.invalidConfig, "\(settings.modelPath): the pipeline's noise predictor is not a UNet")
        }
        var overlay: SafeGenOverlay?
        var safeGenPipeline: StableDiffusionPipeline?
        if let overlayPath = settings.overlayPath {
            var isDirectory: ObjCBool = false
            let url = URL(fileURLWithPath: overlayPath)
            guard FileManager.default.fileExists(atPath: overlayPath, isDirectory: &isDirectory) else {
                throw GuidanceError.invalidOverlay(file: overlayPath, "does not exist")
            }
            let loaded = isDirectory.boolValue
                ? try SafeGenOverlay.extract(editedUNet: url, base: baseUNet)
                : try SafeGenOverlay.load(file: url)
            let edited = try loaded.apply(to: baseUNet)
            overlay = loaded
            safeGenPipeline = StableDiffusionPipeline(
                promptEncoder: pipeline.promptEncoder, noisePredictor: edited, decoder: pipeline.decoder,
                schedulerConfig: pipeline.schedulerConfig)
        }
        let families = try AttributeFamilies.resolve(
            explicit: settings.familiesPath.map(URL.init(fileURLWithPath:)), modelFolder: modelURL).families
        // The τ chosen for this model by `chaperone eval`'s sweep, when the folder has one.
        let switching = try AttributeSwitchingSettings.resolve(modelFolder: modelURL)?.settings
        var generator = NativeImageGenerator(
            base: pipeline, safeGen: safeGenPipeline, overlaySHA256: overlay?.sha256,
            modelSHA256: try ModelFingerprint.sha256(folder: modelURL), families: families,
            defaultSwitchTau: AttributeSwitchingSettings.defaultTau(switching))

        let loaded = try NativeModeration(
            settings: NativeModerationSettings(
                modelPath: settings.modelPath, nudeNetModelPath: settings.nudeNetModelPath, policyPath: settings.policyPath,
                lexiconPath: settings.lexiconPath, promptEmbedding: settings.promptEmbedding,
                extraImageScorers: settings.extraImageScorers),
            promptEncoder: pipeline.promptEncoder as? CLIPPromptEncoder)
        let scorer = loaded.scorer
        let moderation = loaded.moderationPolicy
        let escalatingToSafeGen = moderation.tenantsEscalatingToSafeGen
        if !escalatingToSafeGen.isEmpty && safeGenPipeline == nil {
            throw PolicyError(
                file: settings.policyPath ?? "(embedded)",
                message: "escalation of tenant(s) \(escalatingToSafeGen.joined(separator: ", ")) turns SafeGen on, but no SafeGen overlay is loaded")
        }
        if moderation.hasEarlyAbort {
            generator.earlyAbort = EarlyAbortCheck(
                policy: moderation, preview: try LatentPreview.load(folder: modelURL, pipeline: pipeline), scoring: scorer.imageScoring,
                promptScores: { [promptHarm = scorer.promptHarm] in promptHarm.harmScores($0) })
        }
        self.generator = generator
        self.scorer = scorer
        policy = loaded.policy
        censor = loaded.censor
    }
}

/// `chaperone worker`'s factory: the native engine behind the worker's ports, configured by
/// the worker's `model.*` keys.
public struct NativeEngineFactory: ModelComponentsFactory {
    public let name = "native-diffusion"

    public init() {}

    public func makeComponents(modelPath: String, overlayPath: String?, configuration: WorkerConfiguration) async throws -> ModelComponents {
        let settings = NativeEngineSettings(
            modelPath: modelPath, overlayPath: overlayPath, nudeNetModelPath: configuration.nudeNetModelPath,
            policyPath: configuration.policyPath, lexiconPath: configuration.promptLexiconPath,
            familiesPath: configuration.fairnessFamiliesPath, promptEmbedding: configuration.promptEmbedding)
        let engine = try await Task.detached { try NativeEngine(settings: settings) }.value
        return ModelComponents(generator: engine.generator, scorer: engine.scorer, policy: engine.policy, censor: engine.censor)
    }
}

/// A model folder's identity for the audit trail: SHA-256 over, for every regular file of the
/// folder in sorted relative-path order, the path, a NUL, the file's own SHA-256 (hex) and a
/// newline. Any changed, added or removed file changes it.
public enum ModelFingerprint {
    public static func sha256(folder: URL) throws -> String {
        let fm = FileManager.default
        guard let walker = fm.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else {
            throw DiffusionError(.io, "\(folder.path): cannot list the model folder")
        }
        var files: [(String, URL)] = []
        let root = folder.standardizedFileURL.path
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let path = url.standardizedFileURL.path
            files.append((String(path.dropFirst(root.count).drop(while: { $0 == "/" })), url))
        }
        var outer = SHA256()
        for (relative, url) in files.sorted(by: { $0.0 < $1.0 }) {
            var inner = SHA256()
            let handle: FileHandle
            do {
                handle = try FileHandle(forReadingFrom: url)
            } catch {
                throw DiffusionError(.io, "\(url.path): cannot read: \(error.localizedDescription)")
            }
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { inner.update(data: chunk) }
            outer.update(data: Data(relative.utf8))
            outer.update(data: Data([0]))
            outer.update(data: Data(hexString(inner.finalize()).utf8))
            outer.update(data: Data([0x0a]))
        }
        return hexString(outer.finalize())
    }

    static func hexString<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

import Foundation

/// A model folder in the diffusers layout, checked before anything heavy is loaded:
/// `model_index.json`, `tokenizer/` (vocab.json, merges.txt), `text_encoder/`, `unet/`, `vae/`
/// (config.json + safetensors weights, fp32 or fp16), `scheduler/scheduler_config.json`, an
/// optional `safety_checker/` and an optional `vae_tiny/` (TAESD). Published SD v1.4/v1.5 folders pass as they are.
///
/// Every problem is a `DiffusionError` naming the file or folder.
public struct StableDiffusionModelFolder: Sendable {
    /// The folder itself.
    public let url: URL
    /// `_class_name` from `model_index.json` (e.g. `StableDiffusionPipeline`).
    public let pipelineClass: String?
    /// Component name → [library, class] as listed in `model_index.json` (null entries dropped).
    public let components: [String: [String]]

    public var tokenizer: URL { url.appendingPathComponent("tokenizer", isDirectory: true) }
    public var textEncoder: URL { url.appendingPathComponent("text_encoder", isDirectory: true) }
    public var unet: URL { url.appendingPathComponent("unet", isDirectory: true) }
    public var vae: URL { url.appendingPathComponent("vae", isDirectory: true) }
    public var scheduler: URL { url.appendingPathComponent("scheduler", isDirectory: true) }
    /// `safety_checker/` when the index lists one and the folder exists.
    public let safetyChecker: URL?
    /// `vae_tiny/` (a diffusers `AutoencoderTiny`, TAESD) when the folder has one with a
    /// `config.json`: the cheap decoder for early-abort previews and `generate --decoder tiny`.
    /// Not a diffusers component, so `model_index.json` does not list it.
    public var tinyVAE: URL? {
        let folder = url.appendingPathComponent(Self.tinyVAEFolderName, isDirectory: true)
        return FileManager.default.fileExists(atPath: folder.appendingPathComponent("config.json").path) ? folder : nil
    }

    /// The optional tiny decoder's folder name.
    public static let tinyVAEFolderName = "vae_tiny"

    /// Files that must exist, relative to the model folder.
    public static let requiredFiles = [
        "model_index.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "text_encoder/config.json",
        "unet/config.json",
        "vae/config.json",
        "scheduler/scheduler_config.json",
    ]

    /// The class each required component must have in `model_index.json`, when listed.
    static let expectedClasses: [String: Set<String>] = [
        "tokenizer": ["CLIPTokenizer", "CLIPTokenizerFast"],
        "text_encoder": ["CLIPTextModel"],
        "unet": ["UNet2DConditionModel"],
        "vae": ["AutoencoderKL"],
    ]

    /// Checks the layout of the folder at `url`.
    public init(url: URL) throws {
        self.url = url
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DiffusionError(.io, "\(url.path): model folder does not exist or is not a folder")
        }
        for file in Self.requiredFiles {
            let path = url.appendingPathComponent(file).path
            guard fm.fileExists(atPath: path) else {
                throw DiffusionError(.io, "\(path): missing (a diffusers model folder needs \(file))")
            }
        }

        let indexURL = url.appendingPathComponent("model_index.json")
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL))
        } catch {
            throw DiffusionError(.invalidConfig, "\(indexURL.path): not valid JSON (\(error.localizedDescription))")
        }
        guard let index = object as? [String: Any] else {
            throw DiffusionError(.invalidConfig, "\(indexURL.path): expected a JSON object")
        }
        pipelineClass = index["_class_name"] as? String
        var components: [String: [String]] = [:]
        for (key, value) in index where !key.hasPrefix("_") {
            guard let pair = value as? [Any], pair.count == 2 else { continue }
            let strings = pair.compactMap { $0 as? String }
            if strings.count == 2 { components[key] = strings }
        }
        self.components = components
        for (component, allowed) in Self.expectedClasses {
            if let listed = components[component], !allowed.contains(listed[1]) {
                throw DiffusionError(.invalidConfig,
                    "\(indexURL.path): \(component) is \(listed[1]); expected \(allowed.sorted().joined(separator: " or "))")
            }
        }
        let checker = url.appendingPathComponent("safety_checker", isDirectory: true)
        safetyChecker = components["safety_checker"] != nil && fm.fileExists(atPath: checker.path) ? checker : nil
    }

    /// The scheduler config shipped with the model.
    public func schedulerConfig() throws -> SchedulerConfig {
        try SchedulerConfig.load(from: scheduler.appendingPathComponent("scheduler_config.json"))
    }
}

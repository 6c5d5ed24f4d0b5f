import Moderation
/// Where the worker gets its image generator, scorer, policy and censor from.
///
/// `chaperone worker --model DIR` asks ``makeGenerator`` to load the model folder (and the
/// SafeGen overlay); the native diffusion engine provides the real implementation by
/// registering a factory (see ``EngineRegistry``). The shipped worker never substitutes a fake:
/// with no model configured, or no engine registered, it refuses to start with a clear message.
public struct ModelComponents: Sendable {
    public var generator: any ImageGenerating
    public var scorer: any RequestScoring
    public var policy: any DecisionPolicy
    public var censor: any ImageCensoring

    public init(generator: any ImageGenerating, scorer: any RequestScoring, policy: any DecisionPolicy, censor: any ImageCensoring) {
        self.generator = generator
        self.scorer = scorer
        self.policy = policy
        self.censor = censor
    }
}

/// Builds ``ModelComponents`` for a model folder and optional overlay.
public protocol ModelComponentsFactory: Sendable {
    /// A short name for logs, e.g. `native-diffusion`.
    var name: String { get }
    func makeComponents(modelPath: String, overlayPath: String?, configuration: WorkerConfiguration) async throws -> ModelComponents
}

/// Chooses the factory for the worker. The executable passes the engine's factory when it is
/// built in; tests pass their own deterministic one.
public enum EngineRegistry {
    /// Builds the components or explains precisely why it cannot.
    public static func components(
        factory: (any ModelComponentsFactory)?, configuration: WorkerConfiguration
    ) async throws -> ModelComponents {
        guard let modelPath = configuration.modelPath, !modelPath.isEmpty else {
            throw WorkerError(
                .noGenerator,
                "no model configured: pass --model DIR (or set CHAPERONE_MODEL_PATH, or model.path in the config file) "
                    + "pointing at a Stable Diffusion v1.x folder in the diffusers layout; the worker never publishes placeholder images")
        }
        guard let factory else {
            throw WorkerError(
                .noGenerator,
                "model \(modelPath) is configured but this build has no diffusion engine to load it; "
                    + "build chaperone with the native engine to run the worker")
        }
        return try await factory.makeComponents(modelPath: modelPath, overlayPath: configuration.overlayPath, configuration: configuration)
    }
}

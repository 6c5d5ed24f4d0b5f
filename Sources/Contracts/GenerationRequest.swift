/// One text-to-image generation request, as consumed from the requests topic.
///
/// Mirrors `schemas/generation-request.schema.json` field for field (snake_case JSON keys).
/// The Kafka key of the message is the `request_id`. Structural rules (types, required and
/// unknown fields, patterns) live in the schema; worker limits (steps, pixels, prompt length,
/// schedulers) are configuration and are checked by ``RequestValidator``.
public struct GenerationRequest: Codable, Sendable, Equatable {
    /// Client-chosen identifier, unique per request; the audit key and the Kafka key.
    public var requestID: String
    /// Tenant the request is billed and audited under.
    public var tenant: String
    public var prompt: String
    /// Negative prompt; empty string when none.
    public var negativePrompt: String
    /// Seed of the initial latents (PyTorch CPU generator semantics), 0 ... 2^53 - 1.
    public var seed: UInt64
    public var width: Int
    public var height: Int
    /// Number of denoising steps.
    public var steps: Int
    /// Classifier-free guidance scale.
    public var guidanceScale: Double
    /// Scheduler name, e.g. `pndm`, `ddim`, `euler`, `euler_ancestral`, `dpmpp_2m`.
    public var scheduler: String
    /// Requested mitigations; policy may add more (recorded in the result).
    public var mitigations: Mitigations
    /// Free-form labels the client attaches (e.g. `{"group": "b", "campaign": "spring"}`): stored
    /// in the audit row so harm amplification and decisions can be aggregated by them. At most
    /// ``maximumRequestAttributes`` entries; keys match ``RequestValidator/isAttributeKey(_:)``,
    /// values are 1 to 256 characters without control characters. Absent = none.
    public var attributes: [String: String]?

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case requestID = "request_id"
        case tenant
        case prompt
        case negativePrompt = "negative_prompt"
        case seed
        case width
        case height
        case steps
        case guidanceScale = "guidance_scale"
        case scheduler
        case mitigations
        case attributes
    }

    public init(
        requestID: String, tenant: String, prompt: String, negativePrompt: String = "",
        seed: UInt64, width: Int = 512, height: Int = 512, steps: Int = 25,
        guidanceScale: Double = 7.5, scheduler: String = "pndm", mitigations: Mitigations = Mitigations(),
        attributes: [String: String]? = nil
    ) {
        self.requestID = requestID
        self.tenant = tenant
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.seed = seed
        self.width = width
        self.height = height
        self.steps = steps
        self.guidanceScale = guidanceScale
        self.scheduler = scheduler
        self.mitigations = mitigations
        self.attributes = attributes
    }
}

/// The most attributes one request may carry.
public let maximumRequestAttributes = 16

/// The largest seed a request may carry: 2^53 - 1, the largest integer every JSON parser
/// represents exactly.
public let maximumRequestSeed: UInt64 = (1 << 53) - 1

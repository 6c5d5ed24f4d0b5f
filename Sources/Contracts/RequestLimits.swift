/// Limits a worker enforces on requests. A request over a limit is rejected with a clear
/// reason; nothing is clamped.
public struct RequestLimits: Sendable, Equatable, Codable {
    /// Largest message value in bytes. Default: 1 MiB.
    public var maxMessageBytes: Int
    /// Largest `steps`. Default: 100.
    public var maxSteps: Int
    /// Largest `width * height`. Default: 1024 * 1024.
    public var maxPixels: Int
    /// Longest prompt, negative prompt or concept text, in Unicode scalars. Default: 2000.
    public var maxPromptLength: Int
    /// Largest `guidance_scale`. Default: 50.
    public var maxGuidanceScale: Double
    /// Scheduler names the worker accepts. Default: pndm, ddim, euler, euler_ancestral, dpmpp_2m.
    public var allowedSchedulers: Set<String>
    /// Most semantic edits per request. Default: 4.
    public var maxSemanticEdits: Int

    public init(
        maxMessageBytes: Int = 1 << 20, maxSteps: Int = 100, maxPixels: Int = 1024 * 1024,
        maxPromptLength: Int = 2000, maxGuidanceScale: Double = 50,
        allowedSchedulers: Set<String> = ["pndm", "ddim", "euler", "euler_ancestral", "dpmpp_2m"],
        maxSemanticEdits: Int = 4
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.maxSteps = maxSteps
        self.maxPixels = maxPixels
        self.maxPromptLength = maxPromptLength
        self.maxGuidanceScale = maxGuidanceScale
        self.allowedSchedulers = allowedSchedulers
        self.maxSemanticEdits = maxSemanticEdits
    }
}

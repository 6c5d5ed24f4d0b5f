/// Fair sampling by attribute switching (Choi et al., AAAI 2024): denoise with the request's
/// prompt while the timestep is at least `tau`, then with `switchedPrompt`, so the content
/// formed early (layout, pose, background) does not depend on the attribute decided late.
///
/// `tau` is a timestep value (0…1000), not a step index, so it does not depend on the step
/// count: `tau = 0` never switches, `tau > 999` uses the switched prompt from the start
/// (the reference notebook switches when `tau > t`).
public struct AttributeSwitch: Codable, Sendable, Hashable {
    public var switchedPrompt: String
    public var tau: Int

    /// Built-in transition timestep, for a model folder without ``AttributeSwitchingSettings``
    /// (`attribute-switching.json`, written by `chaperone eval`'s τ sweep). The reference notebook
    /// sweeps τ over {0, 650, …, 900, 1000} for Stable Diffusion; this is the middle of that
    /// sweep, not a measured value.
    public static let defaultTau = 800

    public init(switchedPrompt: String, tau: Int = AttributeSwitch.defaultTau) {
        self.switchedPrompt = switchedPrompt
        self.tau = tau
    }

    enum CodingKeys: String, CodingKey {
        case switchedPrompt = "switched_prompt"
        case tau
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switchedPrompt = try c.decode(String.self, forKey: .switchedPrompt)
        tau = try c.decodeIfPresent(Int.self, forKey: .tau) ?? Self.defaultTau
    }

    /// Whether the switched prompt conditions the step at `timestep`.
    public func usesSwitchedPrompt(atTimestep timestep: Int) -> Bool { tau > timestep }

    public func validationProblem() -> String? {
        if switchedPrompt.isEmpty { return "attribute switching needs a non-empty switched_prompt" }
        if !(0...1000).contains(tau) { return "attribute switching tau must be a timestep in 0...1000" }
        return nil
    }
}

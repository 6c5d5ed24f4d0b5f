import Foundation

/// A model folder's attribute-switching settings (`MODEL/attribute-switching.json`): the τ a
/// request without one gets, how it was chosen and the sweep it came from. The worker's engine,
/// `chaperone generate` and `chaperone eval` read it; `chaperone eval --write-switching-settings`
/// writes it from the fairness section's `switch_sweep`.
///
/// ```json
/// {"tau": 950,
///  "chosen_by": {"rule": "…", "prompt_set": "switching-sweep.json", "first_seed": 1, "seeds": 8,
///                "steps": 20, "guidance_scale": 5, "utility_floor_psnr_db": 12, "balance_tau": 410},
///  "sweep": [{"tau": 0, "deviation": 0.5, "steering_success": 0.5, "psnr_db": null,
///             "mean_abs": 0, "imbalance": 1.2}, …]}
/// ```
/// Only `tau` is required; it must be a timestep in 0…1000. Unknown fields are errors.
public struct AttributeSwitchingSettings: Codable, Sendable, Equatable {
    /// The transition timestep for requests that give none.
    public var tau: Int
    /// How `tau` was chosen (absent in a hand-written file).
    public var chosenBy: Provenance?
    /// The sweep the choice came from, one row per candidate τ.
    public var sweep: [SweepRow]?

    public init(tau: Int, chosenBy: Provenance? = nil, sweep: [SweepRow]? = nil) {
        self.tau = tau
        self.chosenBy = chosenBy
        self.sweep = sweep
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tau
        case chosenBy = "chosen_by"
        case sweep
    }

    /// Where a chosen τ comes from: the rule, the run and the paper's balance point beside it.
    public struct Provenance: Codable, Sendable, Equatable {
        /// The selection rule in words.
        public var rule: String
        /// The prompt set of the sweep (its file name).
        public var promptSet: String
        /// The sweep's seeds: `firstSeed ..< firstSeed + seeds` (the tuning seeds).
        public var firstSeed: UInt64
        public var seeds: Int
        public var steps: Int
        public var guidanceScale: Double
        /// The utility floor of the rule: least PSNR of a switched image against the unswitched one.
        public var utilityFloorPSNRDB: Double
        /// Where the reference's `D(τ)` is smallest (its balance point), for comparison.
        public var balanceTau: Int?

        public init(rule: String, promptSet: String, firstSeed: UInt64, seeds: Int, steps: Int, guidanceScale: Double,
                    utilityFloorPSNRDB: Double, balanceTau: Int?) {
            self.rule = rule
            self.promptSet = promptSet
            self.firstSeed = firstSeed
            self.seeds = seeds
            self.steps = steps
            self.guidanceScale = guidanceScale
            self.utilityFloorPSNRDB = utilityFloorPSNRDB
            self.balanceTau = balanceTau
        }

        enum CodingKeys: String, CodingKey {
            case rule, seeds, steps
            case promptSet = "prompt_set"
            case firstSeed = "first_seed"
            case guidanceScale = "guidance_scale"
            case utilityFloorPSNRDB = "utility_floor_psnr_db"
            case balanceTau = "balance_tau"
        }
    }

    /// One candidate τ of a sweep, over all roles of the prompt set.
    public struct SweepRow: Codable, Sendable, Equatable {
        public var tau: Int
        /// Mean over roles of the largest gap between observed and target attribute shares.
        public var deviation: Double?
        /// Share of switched images whose attribute is the value they were switched to.
        public var steeringSuccess: Double?
        /// PSNR of the switched images against the unswitched ones of the same seeds (pooled
        /// squared error, dB); nil when every pair is identical (infinite).
        public var psnrDB: Double?
        /// Mean absolute pixel difference to the unswitched images, in [0, 1].
        public var meanAbs: Double
        /// The reference's `D(τ)` at this τ (``TauSearch``).
        public var imbalance: Double?

        public init(tau: Int, deviation: Double?, steeringSuccess: Double?, psnrDB: Double?, meanAbs: Double, imbalance: Double?) {
            self.tau = tau
            self.deviation = deviation
            self.steeringSuccess = steeringSuccess
            self.psnrDB = psnrDB
            self.meanAbs = meanAbs
            self.imbalance = imbalance
        }

        enum CodingKeys: String, CodingKey {
            case tau, deviation, imbalance
            case steeringSuccess = "steering_success"
            case psnrDB = "psnr_db"
            case meanAbs = "mean_abs"
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(tau, forKey: .tau)
            try c.encode(deviation, forKey: .deviation)
            try c.encode(steeringSuccess, forKey: .steeringSuccess)
            try c.encode(psnrDB, forKey: .psnrDB)
            try c.encode(meanAbs, forKey: .meanAbs)
            try c.encode(imbalance, forKey: .imbalance)
        }
    }

    /// The file name a model folder may carry with the τ chosen for that model.
    public static let modelFolderFileName = "attribute-switching.json"

    /// The model folder's settings with the file read, when it has `attribute-switching.json`
    /// (nil otherwise), so callers can say which τ is in effect.
    public static func resolve(modelFolder: URL) throws -> (settings: AttributeSwitchingSettings, source: URL)? {
        let candidate = modelFolder.appendingPathComponent(modelFolderFileName)
        guard FileManager.default.fileExists(atPath: candidate.path) else { return nil }
        return (try load(from: candidate), candidate)
    }

    /// The τ for a request that gives none: the settings' `tau`, else ``AttributeSwitch/defaultTau``.
    public static func defaultTau(_ settings: AttributeSwitchingSettings?) -> Int {
        settings?.tau ?? AttributeSwitch.defaultTau
    }

    /// Reads and validates a settings file; errors name the file and the field.
    public static func load(from url: URL) throws -> AttributeSwitchingSettings {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw GuidanceError.invalidConfiguration(file: url.path, "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, source: url.path)
    }

    /// Parses and validates settings JSON; `source` names it in errors.
    public static func parse(_ data: Data, source: String) throws -> AttributeSwitchingSettings {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw GuidanceError.invalidConfiguration(file: source, "must be a JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw GuidanceError.invalidConfiguration(
                file: source, "unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        let settings: AttributeSwitchingSettings
        do {
            settings = try JSONDecoder().decode(AttributeSwitchingSettings.self, from: data)
        } catch let error as DecodingError {
            throw GuidanceError.invalidConfiguration(file: source, describe(error))
        }
        if !(0...1000).contains(settings.tau) {
            throw GuidanceError.invalidConfiguration(file: source, "field 'tau' is \(settings.tau); it must be a timestep in 0...1000")
        }
        for (i, row) in (settings.sweep ?? []).enumerated() where !(0...1000).contains(row.tau) {
            throw GuidanceError.invalidConfiguration(file: source, "field 'sweep[\(i)].tau' is \(row.tau); it must be a timestep in 0...1000")
        }
        return settings
    }

    /// Writes the settings as indented JSON with sorted keys.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try (encoder.encode(self) + Data("\n".utf8)).write(to: url, options: .atomic)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let joined = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return joined.isEmpty ? "top level" : String(joined.drop(while: { $0 == "." }))
        }
        switch error {
        case .keyNotFound(let key, let context):
            let at = path(context)
            return "missing field '\(at == "top level" ? key.stringValue : "\(at).\(key.stringValue)")'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "field '\(path(context))': \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

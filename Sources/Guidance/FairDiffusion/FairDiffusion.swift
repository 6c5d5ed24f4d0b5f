import Contracts
import Foundation

/// An attribute family for Fair Diffusion (Friedrich et al., 2023): its values and, for each
/// value, the phrases that describe it (e.g. gender: female → "female person").
public struct AttributeFamily: Codable, Sendable, Hashable {
    /// Value → edit phrases. Order of values is by name, so draws are stable across runs.
    public var values: [String: [String]]
    /// SEGA settings for the family's edits; defaults are Fair Diffusion's.
    public var edit: FairEditSettings

    public init(values: [String: [String]], edit: FairEditSettings = .fairDiffusion) {
        self.values = values
        self.edit = edit
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        values = try c.decode([String: [String]].self, forKey: .values)
        edit = try c.decodeIfPresent(FairEditSettings.self, forKey: .edit) ?? .fairDiffusion
    }
}

/// The SEGA parameters Fair Diffusion uses for its attribute edits.
public struct FairEditSettings: Codable, Sendable, Hashable {
    public var guidanceScale: Double
    public var warmupSteps: Int
    public var threshold: Double
    public var momentumScale: Double
    public var momentumBeta: Double

    public init(guidanceScale: Double, warmupSteps: Int, threshold: Double, momentumScale: Double, momentumBeta: Double) {
        self.guidanceScale = guidanceScale
        self.warmupSteps = warmupSteps
        self.threshold = threshold
        self.momentumScale = momentumScale
        self.momentumBeta = momentumBeta
    }

    enum CodingKeys: String, CodingKey {
        case guidanceScale = "guidance_scale"
        case warmupSteps = "warmup_steps"
        case threshold
        case momentumScale = "momentum_scale"
        case momentumBeta = "momentum_beta"
    }

    /// `ml-research/Fair-Diffusion`'s `generate_images.py`: scale 4, warm-up 5, threshold 0.95,
    /// momentum 0.5, β 0.6 (with guidance_scale 7 for the prompt).
    public static let fairDiffusion = FairEditSettings(
        guidanceScale: 4, warmupSteps: 5, threshold: 0.95, momentumScale: 0.5, momentumBeta: 0.6)
}

/// The attribute families a worker knows, read from a configuration file:
/// `{"families": {"gender": {"values": {"female": ["female person"], "male": ["male person"]}}}}`.
public struct AttributeFamilies: Codable, Sendable, Hashable {
    public var families: [String: AttributeFamily]

    public init(families: [String: AttributeFamily]) {
        self.families = families
    }

    /// The embedded default: Fair Diffusion's gender phrases.
    public static let standard = AttributeFamilies(families: [
        "gender": AttributeFamily(values: ["female": ["female person"], "male": ["male person"]]),
    ])

    /// The file name a model folder may carry with families tuned for that model.
    public static let modelFolderFileName = "fairness-families.json"

    /// The families to use with a model: the explicit file when given, else the model folder's
    /// `fairness-families.json` when it has one, else ``standard``. Returns the file read (nil
    /// for the embedded default) so callers can say which one is in effect.
    public static func resolve(explicit: URL?, modelFolder: URL) throws -> (families: AttributeFamilies, source: URL?) {
        if let explicit { return (try load(from: explicit), explicit) }
        let candidate = modelFolder.appendingPathComponent(modelFolderFileName)
        guard FileManager.default.fileExists(atPath: candidate.path) else { return (standard, nil) }
        return (try load(from: candidate), candidate)
    }

    /// Reads and validates a families file; errors name the file and the family.
    public static func load(from url: URL) throws -> AttributeFamilies {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw GuidanceError.invalidConfiguration(file: url.path, "cannot read: \(error.localizedDescription)")
        }
        let decoded: AttributeFamilies
        do {
            decoded = try JSONDecoder().decode(AttributeFamilies.self, from: data)
        } catch {
            throw GuidanceError.invalidConfiguration(file: url.path, "not a valid attribute families file: \(error)")
        }
        for (name, family) in decoded.families.sorted(by: { $0.key < $1.key }) {
            if family.values.count < 2 {
                throw GuidanceError.invalidConfiguration(file: url.path, "family \(name) needs at least two values")
            }
            for (value, phrases) in family.values where phrases.isEmpty || phrases.contains(where: \.isEmpty) {
                throw GuidanceError.invalidConfiguration(file: url.path, "family \(name), value \(value): empty phrase list or phrase")
            }
        }
        return decoded
    }
}

/// What Fair Diffusion decided for one image, for the result and the audit row.
public struct FairnessDraw: Codable, Sendable, Hashable {
    public var family: String
    /// The value the image is steered toward.
    public var value: String
    /// The uniform number in [0, 1) drawn from the request seed that chose it; nil when the
    /// tenant's stream assigned the value.
    public var draw: Double?
    /// The request's position in its tenant's stream, when the stream assigned the value.
    public var streamIndex: Int?
    /// The edits applied: toward `value`, away from every other value.
    public var edits: [SemanticEdit]
    public var momentum: SemanticMomentum
}

/// Fair Diffusion for one request: the target value, then SEGA edits that add its phrases and
/// remove the other values' phrases.
///
/// The reference implementation draws, for a batch of n images, a list with exactly p·n
/// "ones". A worker sees a tenant's images one at a time, so the value comes from the tenant's
/// stream (``FairnessStream``, kept in the audit database and shared by all workers: every
/// window of the tenant's requests meets the proportions as closely as counts allow) when an
/// `assignment` is given. Without one (no database, as in `generate`), it is drawn from the
/// request's seed with probability p: a pure function of (seed, family), so a redelivered
/// request gets the same value, but a tenant that reuses one seed gets one value every time.
public enum FairDiffusion {
    public static func plan(
        target: FairnessTarget, seed: UInt64, families: AttributeFamilies, assignment: FairnessAssignment? = nil
    ) throws -> FairnessDraw {
        guard let family = families.families[target.family] else {
            throw GuidanceError.invalidRequest("unknown fairness family '\(target.family)'; known: \(families.families.keys.sorted().joined(separator: ", "))")
        }
        let values = family.values.keys.sorted()
        for key in target.proportions.keys where family.values[key] == nil {
            throw GuidanceError.invalidRequest("fairness family '\(target.family)' has no value '\(key)'; values: \(values.joined(separator: ", "))")
        }
        let shares = target.proportions
        if shares.values.contains(where: { !($0 >= 0 && $0 <= 1) }) {
            throw GuidanceError.invalidRequest("fairness proportions must each be in [0, 1]")
        }
        let total = shares.values.reduce(0, +)
        if abs(total - 1) > 1e-6 {
            throw GuidanceError.invalidRequest("fairness proportions must sum to 1 (they sum to \(total))")
        }
        var draw: Double?
        var chosen = values.last(where: { (shares[$0] ?? 0) > 0 }) ?? values[0]
        if let assignment {
            guard assignment.family == target.family, (shares[assignment.value] ?? 0) > 0 else {
                throw GuidanceError.invalidRequest(
                    "fairness assignment \(assignment.family)=\(assignment.value) does not fit the target \(FairnessStream.key(for: target))")
            }
            chosen = assignment.value
        } else {
            let uniform = uniform(seed: seed, salt: target.family)
            draw = uniform
            var cumulative = 0.0
            for value in values {
                cumulative += shares[value] ?? 0
                if uniform < cumulative && (shares[value] ?? 0) > 0 {
                    chosen = value
                    break
                }
            }
        }
        let settings = family.edit
        var edits: [SemanticEdit] = []
        for value in values {
            for phrase in family.values[value] ?? [] {
                edits.append(SemanticEdit(
                    concept: phrase, reverse: value != chosen, guidanceScale: settings.guidanceScale,
                    warmupSteps: settings.warmupSteps, threshold: settings.threshold))
            }
        }
        return FairnessDraw(
            family: target.family, value: chosen, draw: draw, streamIndex: assignment?.streamIndex, edits: edits,
            momentum: SemanticMomentum(scale: settings.momentumScale, beta: settings.momentumBeta))
    }

    /// A uniform number in [0, 1) from the seed and a salt: SplitMix64 over the seed mixed with
    /// the FNV-1a hash of the salt; 53 random bits, so every double in the range is reachable
    /// on a 2⁻⁵³ grid. Stable across platforms and releases (documented so users can check).
    public static func uniform(seed: UInt64, salt: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in salt.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        var z = (seed ^ hash) &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        z = z ^ (z >> 31)
        return Double(z >> 11) / Double(UInt64(1) << 53)
    }
}

/// The 18 classes of NudeNet v3 (`320n.onnx`), in output-channel order (`nudenet/nudenet.py`).
public enum NudeNetLabel: String, CaseIterable, Codable, Sendable {
    case femaleGenitaliaCovered = "FEMALE_GENITALIA_COVERED"
    case faceFemale = "FACE_FEMALE"
    case buttocksExposed = "BUTTOCKS_EXPOSED"
    case femaleBreastExposed = "FEMALE_BREAST_EXPOSED"
    case femaleGenitaliaExposed = "FEMALE_GENITALIA_EXPOSED"
    case maleBreastExposed = "MALE_BREAST_EXPOSED"
    case anusExposed = "ANUS_EXPOSED"
    case feetExposed = "FEET_EXPOSED"
    case bellyCovered = "BELLY_COVERED"
    case feetCovered = "FEET_COVERED"
    case armpitsCovered = "ARMPITS_COVERED"
    case armpitsExposed = "ARMPITS_EXPOSED"
    case faceMale = "FACE_MALE"
    case bellyExposed = "BELLY_EXPOSED"
    case maleGenitaliaExposed = "MALE_GENITALIA_EXPOSED"
    case anusCovered = "ANUS_COVERED"
    case femaleBreastCovered = "FEMALE_BREAST_COVERED"
    case buttocksCovered = "BUTTOCKS_COVERED"

    /// The label of output channel `index` (0-based, after the four box rows).
    public static func at(_ index: Int) -> NudeNetLabel? {
        allCases.indices.contains(index) ? allCases[index] : nil
    }

    /// The five classes that count as nudity (the I2P evaluation's exposed classes, mapped to v3
    /// names): exposed anus, buttocks, female breast, female genitalia, male genitalia.
    public static let nudity: Set<NudeNetLabel> = [
        .anusExposed, .buttocksExposed, .femaleBreastExposed, .femaleGenitaliaExposed, .maleGenitaliaExposed,
    ]

    /// Whether this class counts toward the default nudity decision.
    public var countsAsNudity: Bool { Self.nudity.contains(self) }

    /// Whether the class names an exposed body part (`*_EXPOSED`), including those reported
    /// but not counted as nudity (male breast, belly, armpits, feet).
    public var isExposed: Bool { rawValue.hasSuffix("_EXPOSED") }
}

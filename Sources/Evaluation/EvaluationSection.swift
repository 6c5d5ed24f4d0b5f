import Contracts
import Moderation
import Diffusion
import Foundation
import HarmScoring

/// One part of the evaluation report. A section owns one key of the prompt-set file (its
/// input) and the same key of the JSON report (its result), and may add panels to the PNG
/// report. Register a new section by adding it to the list given to ``Evaluator`` (the
/// standard list is ``Evaluator/standardSections``); a prompt set without the section's key
/// skips it.
public protocol EvaluationSection: Sendable {
    /// The key in the prompt set and in the report, e.g. `nudity`.
    var key: String { get }
    /// Runs the section on its part of the prompt set (`input`: that key's JSON value).
    func run(input: Data, source: String, context: EvaluationContext) async throws -> SectionResult
}

/// What a section reports.
public struct SectionResult: Sendable {
    /// The section's JSON (any Encodable value; keys in snake_case).
    public var json: any Encodable & Sendable
    /// Panels for the PNG report, in order.
    public var panels: [ReportPanel]
    /// Headline lines printed on standard error (e.g. `NRR safegen 95.0 %`).
    public var headlines: [String]
    /// Files to write into the output folder beside eval.json (name → bytes).
    public var artifacts: [String: Data]

    public init(json: any Encodable & Sendable, panels: [ReportPanel] = [], headlines: [String] = [], artifacts: [String: Data] = [:]) {
        self.json = json
        self.panels = panels
        self.headlines = headlines
        self.artifacts = artifacts
    }
}

/// Strict decoding of a section's input: unknown keys of the section object are errors (the
/// type lists its keys), and decoding errors name the file, the section and the field.
public protocol SectionInput: Decodable {
    /// The keys the section's object may have.
    static var fields: Set<String> { get }
}

extension SectionInput {
    /// Decodes `data` (the section's JSON value) or throws an ``EvaluationError`` naming `source` and `section`.
    public static func decode(_ data: Data, source: String, section: String) throws -> Self {
        let place = "\(source), section '\(section)'"
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw EvaluationError("\(place): must be a JSON object")
        }
        if let unknown = object.keys.filter({ !fields.contains($0) }).sorted().first {
            throw EvaluationError("\(place): unknown field '\(unknown)' (known: \(fields.sorted().joined(separator: ", ")))")
        }
        do {
            return try JSONDecoder().decode(Self.self, from: data)
        } catch let error as DecodingError {
            throw EvaluationError("\(place): \(describe(error))")
        }
    }
}

func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let joined = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return joined.isEmpty ? "top level" : String(joined.drop(while: { $0 == "." }))
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "missing field '\(key.stringValue)' at \(path(context))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(context.debugDescription) at \(path(context))"
    @unknown default:
        return "\(error)"
    }
}

/// A part of the PNG report.
public enum ReportPanel: Sendable {
    case bars(BarChart)
    case images(ImageGrid)
}

/// Grouped bars with values in `0...maximum`, optionally with confidence whiskers and a dashed
/// reference line (a target).
public struct BarChart: Sendable {
    public struct Bar: Sendable {
        public var label: String
        public var value: Double?
        /// A confidence interval around the value, drawn as a whisker.
        public var interval: ClosedRange<Double>?
        public init(_ label: String, _ value: Double?, interval: ClosedRange<Double>? = nil) {
            self.label = label
            self.value = value
            self.interval = interval
        }
    }

    public struct Group: Sendable {
        public var label: String
        public var bars: [Bar]
        public init(_ label: String, _ bars: [Bar]) {
            self.label = label
            self.bars = bars
        }
    }

    public var title: String
    public var groups: [Group]
    public var maximum: Double
    public var reference: Double?

    public init(title: String, groups: [Group], maximum: Double = 1, reference: Double? = nil) {
        self.title = title
        self.groups = groups
        self.maximum = maximum
        self.reference = reference
    }
}

/// Rows of images with a label each; an image may carry a mark (e.g. its detector score) and
/// a flag (drawn as a red frame), so a reader sees where a number comes from.
public struct ImageGrid: Sendable {
    public struct Cell: Sendable {
        public var image: PixelBuffer
        /// Short text under the image, e.g. `0.87` (a detector's score).
        public var mark: String?
        /// Whether the scorer flagged the image (red frame and mark).
        public var flagged: Bool
        public init(_ image: PixelBuffer, mark: String? = nil, flagged: Bool = false) {
            self.image = image
            self.mark = mark
            self.flagged = flagged
        }
    }

    public struct Row: Sendable {
        public var label: String
        public var cells: [Cell]
        public init(_ label: String, _ images: [PixelBuffer]) {
            self.label = label
            self.cells = images.map { Cell($0) }
        }
        public init(_ label: String, cells: [Cell]) {
            self.label = label
            self.cells = cells
        }
        public var images: [PixelBuffer] { cells.map(\.image) }
    }

    public var title: String
    public var rows: [Row]
    /// What the marks mean, printed after the title (e.g. `exposed score, red: flagged`).
    public var legend: String?

    public init(title: String, rows: [Row], legend: String? = nil) {
        self.title = title
        self.rows = rows
        self.legend = legend
    }

    /// Whether any image carries a mark (rows then make room for it).
    var hasMarks: Bool { rows.contains { $0.cells.contains { $0.mark != nil } } }
}

extension EvaluationContext {
    /// The harm scores of an image from every loaded harm scorer (its harm label), NudeNet and
    /// the safety checker.
    public func harmScores(_ image: PixelBuffer) throws -> [HarmScore] {
        var scores: [HarmScore] = []
        for scorer in scorers.values.sorted(by: { $0.name < $1.name }) where scorer.descriptor.isHarmScorer {
            scores += try scorer.score(image).scores.filter { $0.label == scorer.descriptor.harmLabel }
        }
        if let nudeNet {
            scores += try nudeNet.detect(image).harmScores()
        }
        if let safetyChecker {
            scores += try safetyChecker.check(rgb: image.bytes, width: image.width, height: image.height).harmScores
        }
        return scores
    }

    /// Amplification rules for the loaded harm scorers: one per harm category, prompt harm of
    /// that category against the scorers' harm labels (and NudeNet's exposed classes and the
    /// safety checker's flag for `sexual` when they are loaded): the same sources the worker
    /// measures with the same scorers, so a fit made here serves it.
    public func amplificationRules() -> [AmplificationRule] {
        var sources: [String: [ScoreSource]] = [:]
        for scorer in scorers.values.sorted(by: { $0.name < $1.name }) {
            guard let category = scorer.descriptor.harmCategory, let label = scorer.descriptor.harmLabel else { continue }
            sources[category, default: []].append(ScoreSource(scorer: scorer.name, labels: [label]))
        }
        if nudeNet != nil {
            sources["sexual", default: []].append(ScoreSource(scorer: "nudenet", labels: HarmAmplification.exposedNudityLabels))
        }
        if safetyChecker != nil {
            sources["sexual", default: []].append(ScoreSource(scorer: StableDiffusionSafetyChecker.scorerName, labels: ["nsfw"]))
        }
        return sources.keys.sorted().map {
            AmplificationRule(harmType: $0, promptCategories: [$0], imageSources: sources[$0]!)
        }
    }
}

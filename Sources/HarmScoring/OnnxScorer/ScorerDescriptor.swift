import Foundation

/// The description of an ONNX image scorer that ships next to its model file
/// (`scorers/<name>.json` beside `scorers/<name>.onnx`): what the network takes, what it
/// returns and, for a harm scorer, which harm category its verdict counts for.
///
/// ```json
/// {"onnx": "exposed.onnx", "input_width": 64, "input_height": 64, "input_layout": "NCHW",
///  "input_channels": "RGB", "input_range": [0, 1], "output_kind": "grid", "threshold": 0.5,
///  "labels": ["EXPOSED"], "harm_category": "sexual", "harm_label": "EXPOSED"}
/// ```
///
/// Decoding is strict: an unknown or missing field, a wrong type or an unsupported value is an
/// error that names the file and the field.
public struct ScorerDescriptor: Sendable, Hashable {
    /// How the network's output is read.
    public enum OutputKind: String, Sendable, Hashable, CaseIterable {
        /// `[1, 1, gh, gw]` sigmoid probabilities per cell of a grid laid over the image; the
        /// score is the largest cell, the regions are the cells at or above `threshold`.
        case grid
        /// `[1, K]` softmax probabilities of the K `labels`.
        case classes
    }

    /// The scorer's name (the descriptor's file name without `.json`); policies and scores use it.
    public var name: String
    /// The ONNX file, relative to the descriptor's folder.
    public var onnx: String
    public var inputWidth: Int
    public var inputHeight: Int
    public var outputKind: OutputKind
    /// Grid: one label (the concept the cells detect). Classes: one label per output.
    public var labels: [String]
    /// Grid: the cell probability from which a cell is flagged (required). Classes: unused.
    public var threshold: Double?
    /// The harm category this scorer's verdict counts for (e.g. `sexual`); nil for attribute
    /// classifiers, which are loaded for evaluation only, never for decisions.
    public var harmCategory: String?
    /// The label whose score is the harm score (one of `labels`); set with `harmCategory`.
    public var harmLabel: String?

    public init(
        name: String, onnx: String, inputWidth: Int, inputHeight: Int, outputKind: OutputKind, labels: [String],
        threshold: Double? = nil, harmCategory: String? = nil, harmLabel: String? = nil
    ) {
        self.name = name
        self.onnx = onnx
        self.inputWidth = inputWidth
        self.inputHeight = inputHeight
        self.outputKind = outputKind
        self.labels = labels
        self.threshold = threshold
        self.harmCategory = harmCategory
        self.harmLabel = harmLabel
    }

    /// Whether the scorer's verdict takes part in moderation decisions.
    public var isHarmScorer: Bool { harmCategory != nil }

    /// The fields a descriptor may have; anything else is refused.
    public static let fields: Set<String> = [
        "onnx", "input_width", "input_height", "input_layout", "input_channels", "input_range",
        "output_kind", "threshold", "labels", "harm_category", "harm_label",
    ]

    /// Reads and validates the descriptor at `url`; the scorer is named after the file.
    public static func load(from url: URL) throws(HarmScoringError) -> ScorerDescriptor {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw HarmScoringError(.modelLoad, "scorer descriptor \(url.path): cannot read: \(error.localizedDescription)")
        }
        return try decode(data, name: url.deletingPathExtension().lastPathComponent, source: url.path)
    }

    /// Decodes and validates descriptor JSON; `source` names it in errors.
    public static func decode(_ data: Data, name: String, source: String) throws(HarmScoringError) -> ScorerDescriptor {
        func fail(_ message: String) -> HarmScoringError {
            HarmScoringError(.modelLoad, "scorer descriptor \(source): \(message)")
        }
        let parsed: DescriptorJSON
        do {
            parsed = try JSONDecoder().decode(DescriptorJSON.self, from: data)
        } catch {
            throw fail("not valid JSON: \(error)")
        }
        guard case .object(let object) = parsed else { throw fail("the top level must be a JSON object") }
        if let unknown = object.keys.filter({ !fields.contains($0) }).sorted().first {
            throw fail("unknown field '\(unknown)' (known: \(fields.sorted().joined(separator: ", ")))")
        }
        func required(_ key: String) throws(HarmScoringError) -> DescriptorJSON {
            guard let value = object[key] else { throw fail("missing field '\(key)'") }
            return value
        }
        func string(_ key: String, _ value: DescriptorJSON) throws(HarmScoringError) -> String {
            guard case .string(let text) = value else { throw fail("field '\(key)' must be a string, got \(value.typeName)") }
            guard !text.isEmpty else { throw fail("field '\(key)' must not be empty") }
            return text
        }
        func number(_ key: String, _ value: DescriptorJSON) throws(HarmScoringError) -> Double {
            guard case .number(let number) = value else { throw fail("field '\(key)' must be a number, got \(value.typeName)") }
            return number
        }
        func array(_ key: String) throws(HarmScoringError) -> [DescriptorJSON] {
            guard case .array(let items) = try required(key) else { throw fail("field '\(key)' must be an array") }
            return items
        }
        func positiveInteger(_ key: String) throws(HarmScoringError) -> Int {
            let value = try number(key, try required(key))
            guard value.rounded() == value, value >= 1, value <= 4096 else {
                throw fail("field '\(key)' must be a whole number in 1...4096, got \(value)")
            }
            return Int(value)
        }

        let onnx = try string("onnx", try required("onnx"))
        guard !onnx.contains("/"), onnx.hasSuffix(".onnx") else {
            throw fail("field 'onnx' must be a file name ending in .onnx in the descriptor's folder, got '\(onnx)'")
        }
        let width = try positiveInteger("input_width")
        let height = try positiveInteger("input_height")
        let layout = try string("input_layout", try required("input_layout"))
        guard layout == "NCHW" else { throw fail("field 'input_layout' must be \"NCHW\", got \"\(layout)\"") }
        let channels = try string("input_channels", try required("input_channels"))
        guard channels == "RGB" else { throw fail("field 'input_channels' must be \"RGB\", got \"\(channels)\"") }
        let range = try array("input_range")
        guard range.count == 2 else { throw fail("field 'input_range' must be an array of two numbers") }
        let low = try number("input_range", range[0]), high = try number("input_range", range[1])
        guard low == 0, high == 1 else { throw fail("field 'input_range' must be [0, 1], got [\(low), \(high)]") }
        let kindName = try string("output_kind", try required("output_kind"))
        guard let kind = OutputKind(rawValue: kindName) else {
            throw fail("field 'output_kind' must be one of \(OutputKind.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(kindName)\"")
        }
        let labelValues = try array("labels")
        guard !labelValues.isEmpty else { throw fail("field 'labels' must be a non-empty array of strings") }
        var labels: [String] = []
        for value in labelValues { labels.append(try string("labels", value)) }
        guard Set(labels).count == labels.count else { throw fail("field 'labels' lists a label twice") }

        var threshold: Double?
        if let value = object["threshold"] {
            let t = try number("threshold", value)
            guard t > 0, t < 1 else { throw fail("field 'threshold' must be in (0, 1), got \(t)") }
            threshold = t
        }
        switch kind {
        case .grid:
            guard labels.count == 1 else { throw fail("a grid scorer has exactly one label, got \(labels.count)") }
            guard threshold != nil else { throw fail("missing field 'threshold' (required for output_kind grid)") }
        case .classes:
            guard labels.count >= 2 else { throw fail("a classes scorer needs at least two labels, got \(labels.count)") }
            guard threshold == nil else { throw fail("field 'threshold' applies to output_kind grid only") }
        }

        let category = try object["harm_category"].map { v throws(HarmScoringError) in try string("harm_category", v) }
        let harmLabel = try object["harm_label"].map { v throws(HarmScoringError) in try string("harm_label", v) }
        switch (category, harmLabel) {
        case (nil, nil):
            break
        case (.some, nil):
            throw fail("missing field 'harm_label' (required with 'harm_category')")
        case (nil, .some):
            throw fail("missing field 'harm_category' (required with 'harm_label')")
        case (.some, .some(let label)):
            guard labels.contains(label) else {
                throw fail("field 'harm_label' is \"\(label)\", which is not one of labels \(labels)")
            }
        }
        return ScorerDescriptor(
            name: name, onnx: onnx, inputWidth: width, inputHeight: height, outputKind: kind, labels: labels,
            threshold: threshold, harmCategory: category, harmLabel: harmLabel)
    }
}

/// Just enough JSON to tell strings, numbers, booleans, arrays and objects apart.
enum DescriptorJSON: Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([DescriptorJSON])
    case object([String: DescriptorJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([DescriptorJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: DescriptorJSON].self))
        }
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

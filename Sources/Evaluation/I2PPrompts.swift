import Foundation

/// A prompt set in the columns of the I2P dataset (Brack et al., "Mitigating Inappropriateness
/// in Image Generation"; `AIML-TUDA/i2p`): `prompt` and `categories` are required;
/// `hard`, `sd_seed`, `sd_guidance_scale`, `sd_image_width` and `sd_image_height` are read when
/// present; the dataset's other columns (`inappropriate_percentage`, `nudity_percentage`,
/// `q16_percentage`, `sd_safety_percentage`, `prompt_toxicity`, `lexica_url`, `sd_model`) are
/// accepted and not used. Any other column, an unknown category or a bad number is an error that
/// names the file, the row and the column.
public struct I2PPrompts: Sendable, Equatable {
    /// The seven I2P categories, in the dataset's order.
    public static let categories = ["hate", "harassment", "violence", "self-harm", "sexual", "shocking", "illegal activity"]
    /// Columns read.
    public static let usedColumns = ["prompt", "categories", "hard", "sd_seed", "sd_guidance_scale", "sd_image_width", "sd_image_height"]
    /// Columns of the dataset that are accepted but not used.
    public static let ignoredColumns = [
        "inappropriate_percentage", "nudity_percentage", "q16_percentage", "sd_safety_percentage", "prompt_toxicity",
        "lexica_url", "sd_model",
    ]

    /// One prompt row.
    public struct Row: Sendable, Equatable {
        /// 1 for the first row after the header.
        public var number: Int
        public var prompt: String
        /// One or more of ``I2PPrompts/categories`` (the cell is comma-separated).
        public var categories: [String]
        /// The dataset's `hard` flag (nil when the column is absent).
        public var hard: Bool?
        public var seed: UInt64?
        public var guidanceScale: Double?
        public var width: Int?
        public var height: Int?
    }

    public var source: String
    /// The columns of the file, in file order.
    public var columns: [String]
    public var rows: [Row]

    /// Reads the CSV file at `url`.
    public init(contentsOf url: URL) throws {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw EvaluationError("\(url.path): cannot read the I2P prompt file as UTF-8 text: \(error.localizedDescription)")
        }
        try self.init(parsing: text, source: url.path)
    }

    /// Parses CSV text; `source` names it in errors.
    public init(parsing text: String, source: String) throws {
        let table = try CSVTable(parsing: text, source: source)
        let known = Set(Self.usedColumns + Self.ignoredColumns)
        if let unknown = table.header.first(where: { !known.contains($0) }) {
            throw EvaluationError("\(source): unknown column '\(unknown)' (I2P columns: \((Self.usedColumns + Self.ignoredColumns).joined(separator: ", ")))")
        }
        for required in ["prompt", "categories"] where table.index(of: required) == nil {
            throw EvaluationError("\(source): the header has no '\(required)' column")
        }
        guard !table.rows.isEmpty else { throw EvaluationError("\(source): no prompt rows after the header") }
        self.source = source
        columns = table.header
        rows = try table.rows.map { record in
            func cell(_ column: String) -> String? {
                table.index(of: column).map { record.fields[$0].trimmingCharacters(in: .whitespaces) }
            }
            func fail(_ column: String, _ message: String) -> EvaluationError {
                EvaluationError("\(source): row \(record.number) (line \(record.line)), column '\(column)': \(message)")
            }
            let prompt = record.fields[table.index(of: "prompt")!]
            guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw fail("prompt", "the prompt is empty") }
            let categories = cell("categories")!.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !categories.isEmpty else { throw fail("categories", "no category (one or more of: \(Self.categories.joined(separator: ", ")))") }
            for category in categories where !Self.categories.contains(category) {
                throw fail("categories", "unknown category '\(category)' (I2P categories: \(Self.categories.joined(separator: ", ")))")
            }
            guard Set(categories).count == categories.count else { throw fail("categories", "a category is listed twice") }
            var row = Row(number: record.number, prompt: prompt, categories: categories)
            if let text = cell("hard") {
                switch text {
                case "1", "1.0", "True", "true": row.hard = true
                case "0", "0.0", "False", "false": row.hard = false
                default: throw fail("hard", "'\(text)' is not 0 or 1")
                }
            }
            if let text = cell("sd_seed"), !text.isEmpty {
                guard let seed = Self.integer(text) else { throw fail("sd_seed", "'\(text)' is not a non-negative integer seed") }
                row.seed = seed
            }
            if let text = cell("sd_guidance_scale"), !text.isEmpty {
                guard let scale = Double(text), scale.isFinite, scale >= 0 else {
                    throw fail("sd_guidance_scale", "'\(text)' is not a non-negative number")
                }
                row.guidanceScale = scale
            }
            for column in ["sd_image_width", "sd_image_height"] {
                guard let text = cell(column), !text.isEmpty else { continue }
                guard let value = Self.integer(text), value > 0, value <= 1 << 15 else {
                    throw fail(column, "'\(text)' is not a positive integer size")
                }
                if column == "sd_image_width" { row.width = Int(value) } else { row.height = Int(value) }
            }
            if (row.width == nil) != (row.height == nil) {
                throw fail(row.width == nil ? "sd_image_width" : "sd_image_height", "width and height are given together or not at all")
            }
            return row
        }
    }

    /// A non-negative integer written as digits or as an integral decimal (`512.0`, as pandas
    /// writes integer columns that have gaps); nil otherwise.
    static func integer(_ text: String) -> UInt64? {
        if let value = UInt64(text) { return value }
        guard let value = Double(text), value.isFinite, value >= 0, value < 9_007_199_254_740_992,
              value == value.rounded(.towardZero) else { return nil }
        return UInt64(value)
    }

    /// Whether the file has `column`.
    public func has(_ column: String) -> Bool { columns.contains(column) }
}

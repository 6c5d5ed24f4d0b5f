import AuditStore
import Contracts
import Foundation

/// The decisions list's filters, as given in the page's query string. Empty fields filter nothing.
public struct DecisionFilter: Sendable, Equatable {
    public var tenant: String?
    public var decision: DecisionRecord.Decision?
    /// A harm category: the label of a reason that censored or blocked (e.g. `sexual`).
    public var category: String?
    public var from: SQLTimestamp?
    public var to: SQLTimestamp?
    /// A request id, or the start of one.
    public var requestID: String?
    /// `key=value` (the attribute has that value) or `key` (the request carries the attribute).
    public var attribute: String?

    public init(
        tenant: String? = nil, decision: DecisionRecord.Decision? = nil, category: String? = nil, from: SQLTimestamp? = nil,
        to: SQLTimestamp? = nil, requestID: String? = nil, attribute: String? = nil
    ) {
        self.tenant = tenant
        self.decision = decision
        self.category = category
        self.from = from
        self.to = to
        self.requestID = requestID
        self.attribute = attribute
    }

    /// The attribute filter split into key and optional value.
    var attributeParts: (key: String, value: String?)? {
        guard let attribute else { return nil }
        guard let equals = attribute.firstIndex(of: "=") else { return (attribute, nil) }
        return (String(attribute[..<equals]), String(attribute[attribute.index(after: equals)...]))
    }
}

/// One row of the decisions list.
public struct DecisionSummary: Sendable, Equatable {
    public var requestID: String
    public var tenant: String?
    public var decidedAt: SQLTimestamp
    public var decision: DecisionRecord.Decision
    public var prompt: String?
    /// `scorer/label` of the reasons that censored or blocked.
    public var triggers: [String]
    /// Whether the result carries an image (inline or by reference).
    public var hasPublishedImage: Bool
    /// The latest verdict, when reviewed.
    public var latestVerdict: Verdict?
    public var attributesJSON: String?
}

/// Everything the decision page shows.
public struct DecisionDetail: Sendable {
    public var requestID: String
    public var requestIDIsSynthetic: Bool
    public var tenant: String?
    public var decidedAt: SQLTimestamp
    public var decision: DecisionRecord.Decision
    public var reasons: [JSONValue]
    public var prompt: String?
    public var negativePrompt: String?
    public var mitigations: JSONValue?
    public var scores: [JSONValue]
    public var generatedImageSHA256: String?
    public var modelSHA256: String?
    public var overlaySHA256: String?
    public var requestSHA256: String?
    public var workerID: String
    public var topic: String
    public var partition: Int
    public var offset: Int64
    public var publishedTopic: String
    public var attributes: JSONValue?
    public var tries: [JSONValue]
    /// The published result without its inline image.
    public var publishedResult: JSONValue?
    public var publishedImageBase64: String?
    public var publishedImageRef: String?
    public var publishedImageSHA256: String?
    /// The message as consumed, for rejected decisions only.
    public var rawRequest: [UInt8]?

    /// Whether a verdict may be recorded on this decision.
    public var isReviewable: Bool { decision == .censor || decision == .block }
}

/// A recorded verdict.
public struct ReviewEntry: Sendable, Equatable {
    public var id: Int64
    public var requestID: String
    public var tenant: String?
    public var decision: DecisionRecord.Decision
    public var verdict: Verdict
    public var note: String
    public var reviewer: String
    public var reviewedAt: SQLTimestamp
}

/// Overturned share of the reviewed decisions a scorer's category censored or blocked.
public struct OverturnRate: Sendable, Equatable {
    public var scorer: String
    public var category: String
    public var reviewed: Int
    public var overturned: Int
    public var rate: Double
}

/// A logged-in user's session.
public struct ConsoleSession: Sendable, Equatable {
    public var user: String
    public var role: ConsoleRole
    /// The token every form of this session must return.
    public var csrfToken: String
}

/// The time range of the decisions-over-time chart: `[from, to)`, either end open. With neither
/// end given the chart shows the 30 days before the newest decision.
public struct ChartRange: Sendable, Equatable {
    public var from: SQLTimestamp?
    public var to: SQLTimestamp?

    public init(from: SQLTimestamp? = nil, to: SQLTimestamp? = nil) {
        self.from = from
        self.to = to
    }

    /// True when neither end is given.
    public var isDefault: Bool { from == nil && to == nil }
}

/// Data behind the charts page.
public struct ChartData: Sendable {
    /// The range the over-time chart covers, as asked for (both ends nil: the default window).
    public var range: ChartRange
    /// Decisions per tenant and time bucket within `range`.
    public var overTime: [(tenant: String, bucket: SQLTimestamp, count: Int)]
    /// The bucket width: `minute`, `hour` or `day`.
    public var bucketUnit: String
    /// Benign prompts about people censored or blocked, per tenant and SafeGen on/off.
    public var overModeration: [(tenant: String, safegen: Bool, requests: Int, overModerated: Int, rate: Double)]
    /// Harm amplification rate per group value and harm type, over all tenants: request
    /// attributes (`attribute` = the key) and the policy's prompt groups (`attribute` =
    /// `prompt:<group>`, the prompt names the value).
    public var amplification: [(attribute: String, value: String, harmType: String, requests: Int, amplified: Int, rate: Double)]
    /// Escalation outcomes per tenant.
    public var escalation: [(tenant: String, requests: Int, firstTryPassed: Int, rescued: Int, blocked: Int)]
    public var overturnRates: [OverturnRate]
}

extension DecisionRecord.Decision {
    init(column row: SQLRow, _ name: String) throws {
        let text: String = try row.decode(name)
        guard let decision = Self(rawValue: text) else {
            throw ConsoleError.invalidInput("column \(name) holds the unknown decision '\(text)'")
        }
        self = decision
    }
}

extension JSONValue {
    /// Parses JSON text (a jsonb column); nil for nil text.
    static func parse(_ text: String?) throws -> JSONValue? {
        guard let text else { return nil }
        return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// The elements of an array, else empty.
    var elements: [JSONValue] {
        if case .array(let values) = self { return values }
        return []
    }

    /// A number (integer or not) as a Double.
    var doubleValue: Double? {
        switch self {
        case .integer(let v): Double(v)
        case .number(let v): v
        default: nil
        }
    }
}

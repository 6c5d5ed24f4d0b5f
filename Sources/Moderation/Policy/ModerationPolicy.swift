import Contracts
import Foundation

/// One rule: for the listed labels of one scorer, censor from `censorAt` and block from
/// `blockAt` (a score equal to a threshold reaches it). Either threshold may be absent.
public struct PolicyRule: Codable, Sendable, Hashable {
    public var scorer: String
    public var labels: [String]
    public var censorAt: Double?
    public var blockAt: Double?

    public init(scorer: String, labels: [String], censorAt: Double? = nil, blockAt: Double? = nil) {
        self.scorer = scorer
        self.labels = labels
        self.censorAt = censorAt
        self.blockAt = blockAt
    }

    enum CodingKeys: String, CodingKey {
        case scorer, labels
        case censorAt = "censor_at"
        case blockAt = "block_at"
    }
}

/// The rules of one tenant, and what to do when a rule's scorer produced no score at all
/// (a scorer that is not loaded, or failed): by default the policy fails closed and blocks.
/// Optional sections (see `ModerationStrategy.swift`): `escalation`, `cascade`, `early_abort`.
public struct TenantPolicy: Codable, Sendable, Hashable {
    public var rules: [PolicyRule]
    public var onMissingScorer: Decision
    /// Regenerate with stronger mitigations instead of blocking.
    public var escalation: EscalationLadder?
    /// Scorer cascades, one per category.
    public var cascade: [CascadeRule]
    /// Stop sampling early when the predicted image is clearly harmful.
    public var earlyAbort: EarlyAbortPolicy?

    public init(
        rules: [PolicyRule], onMissingScorer: Decision = .block, escalation: EscalationLadder? = nil,
        cascade: [CascadeRule] = [], earlyAbort: EarlyAbortPolicy? = nil
    ) {
        self.rules = rules
        self.onMissingScorer = onMissingScorer
        self.escalation = escalation
        self.cascade = cascade
        self.earlyAbort = earlyAbort
    }

    enum CodingKeys: String, CodingKey {
        case rules
        case onMissingScorer = "on_missing_scorer"
        case escalation, cascade
        case earlyAbort = "early_abort"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        rules = try container.decode([PolicyRule].self, forKey: .rules)
        onMissingScorer = try container.decodeIfPresent(Decision.self, forKey: .onMissingScorer) ?? .block
        escalation = try container.decodeIfPresent(EscalationLadder.self, forKey: .escalation)
        cascade = try container.decodeIfPresent([CascadeRule].self, forKey: .cascade) ?? []
        earlyAbort = try container.decodeIfPresent(EarlyAbortPolicy.self, forKey: .earlyAbort)
    }
}

extension ModerationPolicy {
    /// The scorers any rule refers to.
    public var referencedScorers: Set<String> {
        Set(([defaultPolicy] + Array(tenants.values)).flatMap { $0.rules.map(\.scorer) + $0.strategyScorers })
    }

    /// A copy without the rules of scorers that are not in `scorers` — for the embedded default
    /// only: a policy file that names a scorer the worker lacks is a start-up error instead.
    public func restricted(to scorers: Set<String>) -> ModerationPolicy {
        func keep(_ policy: TenantPolicy) -> TenantPolicy {
            var kept = policy
            kept.rules = policy.rules.filter { scorers.contains($0.scorer) }
            return kept
        }
        return ModerationPolicy(defaultPolicy: keep(defaultPolicy), tenants: tenants.mapValues(keep), amplification: amplification)
    }
}

extension ModerationPolicy {
    /// Whether any tenant stops generations early.
    public var hasEarlyAbort: Bool {
        defaultPolicy.earlyAbort != nil || tenants.values.contains { $0.earlyAbort != nil }
    }

    /// Tenants whose escalation turns SafeGen on, for the start-up check that an overlay is loaded.
    public var tenantsEscalatingToSafeGen: [String] {
        let all = [("default", defaultPolicy)] + tenants.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return all.filter { $0.1.escalation?.steps.contains { $0.safegen } == true }.map(\.0)
    }
}

/// The outcome of applying a policy to a request's scores.
public struct PolicyOutcome: Sendable, Hashable {
    public var decision: Decision
    /// Every rule that fired (at any severity), most severe first.
    public var reasons: [DecisionReason]
    /// The tenant whose rules were applied: the request's tenant, or `default`.
    public var appliedTenant: String
}

/// Per-tenant moderation policy, like the severity levels of hosted moderation APIs: each
/// tenant lists rules over scorer labels; tenants without an entry use `default`.
///
/// Load it from a JSON file with ``ModerationPolicy/load(from:)``; the file is validated at
/// load so that a worker with a bad policy stops at start with a message saying what and where.
public struct ModerationPolicy: Codable, Sendable, Hashable {
    public var defaultPolicy: TenantPolicy
    public var tenants: [String: TenantPolicy]
    /// Harm amplification: method per harm type, fit file, prompt groups (one section for all
    /// tenants: amplification is measured, not decided on). Absent: ``AmplificationPolicy/standard``.
    public var amplification: AmplificationPolicy

    public init(defaultPolicy: TenantPolicy, tenants: [String: TenantPolicy] = [:], amplification: AmplificationPolicy = .standard) {
        self.defaultPolicy = defaultPolicy
        self.tenants = tenants
        self.amplification = amplification
    }

    enum CodingKeys: String, CodingKey {
        case defaultPolicy = "default"
        case tenants
        case amplification
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        defaultPolicy = try container.decode(TenantPolicy.self, forKey: .defaultPolicy)
        tenants = try container.decodeIfPresent([String: TenantPolicy].self, forKey: .tenants) ?? [:]
        amplification = try container.decodeIfPresent(AmplificationPolicy.self, forKey: .amplification) ?? .standard
    }

    /// Reads and validates a policy file.
    public static func load(from url: URL) throws -> ModerationPolicy {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PolicyError(file: url.path, message: "cannot read the policy file: \(error.localizedDescription)")
        }
        return try decode(data, source: url.path)
    }

    /// Decodes and validates policy JSON; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws -> ModerationPolicy {
        let policy: ModerationPolicy
        do {
            policy = try JSONDecoder().decode(ModerationPolicy.self, from: data)
        } catch let error as DecodingError {
            throw PolicyError(file: source, message: "not a valid policy: \(PolicyError.describing(error))")
        }
        try policy.validate(source: source)
        return policy
    }

    /// Checks that every rule can fire and that thresholds are ordered.
    public func validate(source: String) throws {
        let all = [("default", defaultPolicy)] + tenants.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        for (tenant, policy) in all {
            for (index, rule) in policy.rules.enumerated() {
                let place = "tenant \(tenant), rule \(index) (\(rule.scorer))"
                if rule.scorer.isEmpty {
                    throw PolicyError(file: source, message: "\(place): scorer is empty")
                }
                if rule.labels.isEmpty {
                    throw PolicyError(file: source, message: "\(place): labels is empty")
                }
                if rule.censorAt == nil && rule.blockAt == nil {
                    throw PolicyError(file: source, message: "\(place): needs censor_at, block_at or both")
                }
                for threshold in [rule.censorAt, rule.blockAt].compactMap({ $0 }) where !threshold.isFinite {
                    throw PolicyError(file: source, message: "\(place): threshold \(threshold) is not a finite number")
                }
                if let censor = rule.censorAt, let block = rule.blockAt, censor > block {
                    throw PolicyError(
                        file: source,
                        message: "\(place): censor_at \(censor) is above block_at \(block); censor must come first")
                }
            }
            try policy.validateStrategy(source: source, place: "tenant \(tenant)")
        }
        try amplification.validate(source: source)
    }

    /// The rules that apply to `tenant` and the name they are filed under.
    public func policy(forTenant tenant: String) -> (name: String, policy: TenantPolicy) {
        if let specific = tenants[tenant] { return (tenant, specific) }
        return ("default", defaultPolicy)
    }

    /// Applies the tenant's rules to the scores.
    ///
    /// - Parameters:
    ///   - scores: every score produced for the request (prompt and image).
    ///   - availableScorers: the scorers that ran; a rule whose scorer did not run takes the
    ///     tenant's `on_missing_scorer` action. A scorer that ran but produced no score for a
    ///     label (e.g. no detection of that class) means a score of zero for it.
    public func decide(tenant: String, scores: [HarmScore], availableScorers: Set<String>) -> PolicyOutcome {
        let (name, policy) = policy(forTenant: tenant)
        var reasons: [DecisionReason] = []
        for rule in policy.rules {
            guard availableScorers.contains(rule.scorer) else {
                reasons.append(DecisionReason(
                    scorer: rule.scorer, label: rule.labels.joined(separator: ","), score: nil, threshold: nil,
                    action: policy.onMissingScorer, note: "scorer did not run"))
                continue
            }
            for label in rule.labels {
                let value = scores.lazy
                    .filter { $0.scorer == rule.scorer && $0.label == label }
                    .map(\.score)
                    .max() ?? 0
                if let block = rule.blockAt, value >= block {
                    reasons.append(DecisionReason(
                        scorer: rule.scorer, label: label, score: value, threshold: block, action: .block))
                } else if let censor = rule.censorAt, value >= censor {
                    reasons.append(DecisionReason(
                        scorer: rule.scorer, label: label, score: value, threshold: censor, action: .censor))
                }
            }
        }
        reasons = policy.applyCascade(to: reasons, scores: scores, availableScorers: availableScorers)
        // Most severe first; stable otherwise, so the order follows the policy file.
        let ordered = reasons.enumerated().sorted { lhs, rhs in
            lhs.element.severity != rhs.element.severity ? lhs.element.severity > rhs.element.severity : lhs.offset < rhs.offset
        }.map(\.element)
        let decision = ordered.first?.severity ?? .allow
        return PolicyOutcome(decision: decision, reasons: ordered, appliedTenant: name)
    }
}

extension DecisionReason {
    /// How severe this reason is for ordering: its action; a reason without one triggered the decision.
    fileprivate var severity: Decision { action ?? .block }
}

/// A policy file that cannot be used, with the file and the place in it.
public struct PolicyError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "policy \(file): \(message)" }
}

extension PolicyError {
    /// A decoding error as a short message with the coding path, for configuration files.
    public static func describing(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            var joined = ""
            for key in context.codingPath {
                if let index = key.intValue {
                    joined += "[\(index)]"
                } else {
                    joined += (joined.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return joined.isEmpty ? "top level" : joined
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(context.debugDescription) at \(path(context))"
        case .dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context))"
        @unknown default:
            return "\(error)"
        }
    }
}

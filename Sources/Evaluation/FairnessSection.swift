import Moderation
import Contracts
import Diffusion
import Foundation
import Guidance
import HarmScoring

/// Fairness per role: attribute proportions (a classes scorer's top label) without mitigation,
/// with Fair Diffusion and with attribute switching, against the target proportions.
///
/// Input (`fairness`): `{"scorer": "attribute", "family": "gender", "target": {"female": 0.5,
/// "male": 0.5}, "switch_tau": 800, "roles": [{"role": "doctor", "prompt": "a doctor",
/// "value_prompts": {"female": "a female doctor", "male": "a male doctor"}}]}`.
/// Per role the seeds get their values from a fairness stream (``FairnessStream``, the worker's
/// assigner: each role is a tenant whose requests meet the target shares as closely as counts
/// allow); Fair Diffusion steers each image towards its value with the family's edits, attribute
/// switching starts from the role prompt and switches to the value's prompt below `switch_tau`
/// (only for roles with `value_prompts`; absent: the model folder's `attribute-switching.json`
/// τ, else the built-in default, as on the worker). The family's values must be the scorer's
/// labels. An optional `switch_sweep` (``SwitchingSweep``) measures candidate τ values on the
/// same roles and assignments and picks one.
public struct FairnessSection: EvaluationSection {
    public let key = "fairness"
    public init() {}

    struct Input: SectionInput {
        static let fields: Set<String> = ["scorer", "family", "target", "switch_tau", "switch_sweep", "roles"]
        var scorer: String
        var family: String
        var target: [String: Double]
        var switchTau: Int?
        var switchSweep: SwitchingSweep.Input?
        var roles: [Role]

        struct Role: Decodable {
            var role: String
            var prompt: String
            var valuePrompts: [String: String]?
            enum CodingKeys: String, CodingKey {
                case role, prompt
                case valuePrompts = "value_prompts"
            }
        }

        enum CodingKeys: String, CodingKey {
            case scorer, family, target, roles
            case switchTau = "switch_tau"
            case switchSweep = "switch_sweep"
        }
    }

    struct MethodResult: Encodable {
        var proportions: [String: Double]?
        var deviation: Double?
        /// Share of images whose label is the value they were steered to (mitigated methods).
        var steeringSuccess: Double?
        enum CodingKeys: String, CodingKey {
            case proportions, deviation
            case steeringSuccess = "steering_success"
        }
    }

    struct RoleResult: Encodable {
        var role: String
        var images: Int
        var assigned: [String: Int]
        var methods: [String: MethodResult]
    }

    struct Output: Encodable {
        var scorer: String
        var family: String
        var target: [String: Double]
        var switchTau: Int
        /// Where `switch_tau` comes from: `prompt set`, the model folder's settings file, or `built-in default`.
        var switchTauSource: String
        var methods: [String]
        var roles: [RoleResult]
        var meanDeviation: [String: Double]
        var switchSweep: SwitchingSweep.Output?
        enum CodingKeys: String, CodingKey {
            case scorer, family, target, methods, roles
            case switchTau = "switch_tau"
            case switchTauSource = "switch_tau_source"
            case meanDeviation = "mean_deviation"
            case switchSweep = "switch_sweep"
        }
    }

    public func run(input data: Data, source: String, context: EvaluationContext) async throws -> SectionResult {
        let input = try Input.decode(data, source: source, section: key)
        let place = "\(source), section 'fairness'"
        let scorer = try context.scorer(input.scorer, for: "section 'fairness'")
        guard scorer.descriptor.outputKind == .classes else { throw EvaluationError("\(place): scorer '\(input.scorer)' must be a classes scorer") }
        guard let family = context.families.families[input.family] else {
            throw EvaluationError("\(place): unknown family '\(input.family)' (known: \(context.families.families.keys.sorted().joined(separator: ", ")))")
        }
        let values = input.target.keys.sorted()
        guard Set(values) == Set(family.values.keys), Set(values).isSubset(of: Set(scorer.descriptor.labels)) else {
            throw EvaluationError("\(place): target values \(values) must be the family's values \(family.values.keys.sorted()) and labels of scorer '\(input.scorer)' \(scorer.descriptor.labels)")
        }
        guard input.target.values.allSatisfy({ $0 >= 0 && $0 <= 1 }), abs(input.target.values.reduce(0, +) - 1) < 1e-6 else {
            throw EvaluationError("\(place): target shares must be in [0, 1] and sum to 1")
        }
        guard !input.roles.isEmpty else { throw EvaluationError("\(place): roles is empty") }
        let tau = input.switchTau ?? context.defaultSwitchTau
        let tauSource = input.switchTau != nil ? "prompt set" : context.switching?.source.path ?? "built-in default"
        guard (0...1000).contains(tau) else { throw EvaluationError("\(place): switch_tau must be in 0...1000") }
        if let sweep = input.switchSweep {
            try SwitchingSweep.Input.checkFields(data, place: "\(place), switch_sweep")
            try sweep.validate(place: "\(place), switch_sweep")
            guard input.roles.contains(where: { $0.valuePrompts != nil }) else {
                throw EvaluationError("\(place), switch_sweep: no role has value_prompts to switch to")
            }
        } else if context.switchingSettingsDestination != nil {
            throw EvaluationError("\(place): writing attribute-switching settings needs a switch_sweep")
        }
        let seeds = context.settings.seedList
        var methodsUsed = ["plain", "fair_diffusion"]
        if input.roles.contains(where: { $0.valuePrompts != nil }) { methodsUsed.append("attribute_switching") }

        var results: [RoleResult] = []
        var groups: [BarChart.Group] = []
        var gridRows: [ImageGrid.Row] = []
        var deviations: [String: [Double]] = [:]
        var sweepRoles: [SwitchingSweep.Role] = []
        for (r, role) in input.roles.enumerated() {
            if let prompts = role.valuePrompts, Set(prompts.keys) != Set(values) {
                throw EvaluationError("\(place), roles[\(r)]: value_prompts must have exactly the values \(values)")
            }
            // The worker's assigner, one stream per role (as per tenant).
            let streams = MemoryFairnessStreams()
            let target = FairnessTarget(family: input.family, proportions: input.target)
            var assignments: [FairnessAssignment] = []
            for i in seeds.indices {
                assignments.append(try await streams.assignFairness(requestID: "\(role.role)-\(i)", tenant: role.role, target: target))
            }
            let assigned = assignments.map(\.value)
            if let prompts = role.valuePrompts {
                sweepRoles.append(.init(name: role.role, prompt: role.prompt, valuePrompts: prompts, assigned: assigned))
            }
            var labels: [String: [String]] = [:]
            var hits: [String: Int] = [:]
            var rows: [String: [PixelBuffer]] = [:]
            for (i, seed) in seeds.enumerated() {
                var jobs: [(String, GenerationJob)] = [
                    ("plain", GenerationJob(prompt: role.prompt, seed: seed)),
                    ("fair_diffusion", GenerationJob(prompt: role.prompt, seed: seed, fair: .init(
                        family: input.family, proportions: input.target, value: assigned[i], streamIndex: assignments[i].streamIndex))),
                ]
                if let prompts = role.valuePrompts {
                    jobs.append(("attribute_switching", GenerationJob(
                        prompt: role.prompt, seed: seed, promptSwitch: .init(prompt: prompts[assigned[i]]!, tau: tau))))
                }
                for (method, job) in jobs {
                    let image = try context.image(job)
                    let label = try scorer.score(image).topLabel ?? ""
                    labels[method, default: []].append(label)
                    if label == assigned[i] { hits[method, default: 0] += 1 }
                    if rows[method, default: []].count < 8 { rows[method, default: []].append(image) }
                }
            }
            var methods: [String: MethodResult] = [:]
            for (method, observed) in labels {
                let proportions = EvalMetrics.proportions(observed, values: values)
                let deviation = proportions.map { EvalMetrics.deviation($0, target: input.target) }
                if let deviation { deviations[method, default: []].append(deviation) }
                methods[method] = MethodResult(
                    proportions: proportions, deviation: deviation,
                    steeringSuccess: method == "plain" ? nil : EvalMetrics.share(hits[method] ?? 0, of: observed.count))
            }
            var counts: [String: Int] = [:]
            for value in assigned { counts[value, default: 0] += 1 }
            results.append(RoleResult(role: role.role, images: seeds.count, assigned: counts, methods: methods))
            let first = values[0]
            groups.append(BarChart.Group(role.role, methodsUsed.compactMap { m in
                methods[m].map { BarChart.Bar(m, $0.proportions?[first]) }
            }))
            for method in methodsUsed { if let images = rows[method] { gridRows.append(ImageGrid.Row("\(role.role) \(method)", images)) } }
            context.log("fairness: \(role.role): " + methodsUsed.map { m in
                "\(m) \(first) " + (methods[m]?.proportions?[first].map { String(format: "%.2f", $0) } ?? "-")
            }.joined(separator: ", "))
        }
        let mean = deviations.mapValues { $0.reduce(0, +) / Double($0.count) }
        let sweep = try input.switchSweep.map {
            try SwitchingSweep.run($0, roles: sweepRoles, scorer: scorer, target: input.target, source: source, context: context)
        }
        let output = Output(
            scorer: input.scorer, family: input.family, target: input.target, switchTau: tau, switchTauSource: tauSource,
            methods: methodsUsed, roles: results, meanDeviation: mean, switchSweep: sweep?.output)
        var headlines = results.map { role in
            "fairness: \(role.role) \(values[0]) share " + methodsUsed.map { m in
                "\(m) " + (role.methods[m]?.proportions?[values[0]].map { String(format: "%.0f %%", $0 * 100) } ?? "n/a")
            }.joined(separator: ", ")
        }
        headlines.append("fairness: attribute switching at tau \(tau) (\(tauSource))")
        headlines += sweep?.headlines ?? []
        return SectionResult(
            json: output,
            panels: [.bars(BarChart(title: "Fairness: share '\(values[0])' per role (target \(Int((input.target[values[0]] ?? 0) * 100)) %)",
                                    groups: groups, reference: input.target[values[0]])),
                     .images(ImageGrid(title: "Fairness: per role and method (attribute switching at tau \(tau))", rows: gridRows))]
                + (sweep?.panels ?? []),
            headlines: headlines)
    }
}

import Diffusion
import Foundation
import Guidance
import HarmScoring

/// Attribute switching's τ sweep, the fairness section's `switch_sweep`: for each candidate τ
/// and role, the attribute shares of the switched images against the target (fairness) and how
/// close each switched image stays to the unswitched image of the same seed (utility: PSNR and
/// mean absolute pixel difference), beside the reference's `D(τ)` from the two chains per seed
/// (``TauSearch``: the role prompt's and the assigned value prompt's).
///
/// Input: `{"taus": [0, 500, 800, 1000], "utility_floor_psnr_db": 12}`. The choice follows
/// ``select(_:utilityFloorPSNRDB:)``; with `chaperone eval --write-switching-settings` it is
/// written to the model folder's ``AttributeSwitchingSettings`` file, never otherwise.
public enum SwitchingSweep {
    /// The selection rule, as recorded with a written choice.
    public static let rule = "the candidate tau with the smallest mean fairness deviation among those whose switched images "
        + "keep a PSNR against the unswitched images of at least the utility floor (identical images: infinite); "
        + "ties to the higher PSNR, then the smaller tau"

    /// The selection rule: among the rows whose `psnrDB` is at least `floor` (nil, identical
    /// images, counts as infinite) and which have a deviation, the smallest deviation; ties go to
    /// the higher PSNR, then the smaller τ. Nil when no row qualifies.
    public static func select(_ rows: [AttributeSwitchingSettings.SweepRow], utilityFloorPSNRDB floor: Double) -> Int? {
        let utility = { (row: AttributeSwitchingSettings.SweepRow) in row.psnrDB ?? .infinity }
        let eligible = rows.filter { $0.deviation != nil && utility($0) >= floor }
        return eligible.min { a, b in
            if a.deviation! != b.deviation! { return a.deviation! < b.deviation! }
            if utility(a) != utility(b) { return utility(a) > utility(b) }
            return a.tau < b.tau
        }?.tau
    }

    struct Input: Decodable {
        static let fields: Set<String> = ["taus", "utility_floor_psnr_db"]
        var taus: [Int]
        var utilityFloorPSNRDB: Double
        enum CodingKeys: String, CodingKey {
            case taus
            case utilityFloorPSNRDB = "utility_floor_psnr_db"
        }

        /// Unknown keys of the `switch_sweep` object of the fairness section's JSON are errors.
        static func checkFields(_ section: Data, place: String) throws {
            let object = (try? JSONSerialization.jsonObject(with: section) as? [String: Any])?["switch_sweep"] as? [String: Any] ?? [:]
            if let unknown = object.keys.filter({ !fields.contains($0) }).sorted().first {
                throw EvaluationError("\(place): unknown field '\(unknown)' (known: \(fields.sorted().joined(separator: ", ")))")
            }
        }

        func validate(place: String) throws {
            guard !taus.isEmpty else { throw EvaluationError("\(place): taus is empty") }
            if let bad = taus.first(where: { !(0...1000).contains($0) }) {
                throw EvaluationError("\(place): taus: \(bad) is not a timestep in 0...1000")
            }
            guard Set(taus).count == taus.count else { throw EvaluationError("\(place): taus has duplicates") }
            guard utilityFloorPSNRDB.isFinite else { throw EvaluationError("\(place): utility_floor_psnr_db must be a number") }
        }
    }

    /// One role at one τ.
    struct RoleRow: Encodable {
        var role: String
        var proportions: [String: Double]?
        var deviation: Double?
        var steeringSuccess: Double?
        var psnrDB: Double?
        var meanAbs: Double
        var identicalImages: Int
        var imbalance: Double
        enum CodingKeys: String, CodingKey {
            case role, proportions, deviation, imbalance
            case steeringSuccess = "steering_success"
            case psnrDB = "psnr_db"
            case meanAbs = "mean_abs"
            case identicalImages = "identical_images"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(role, forKey: .role)
            try c.encode(proportions, forKey: .proportions)
            try c.encode(deviation, forKey: .deviation)
            try c.encode(steeringSuccess, forKey: .steeringSuccess)
            try c.encode(psnrDB, forKey: .psnrDB)
            try c.encode(meanAbs, forKey: .meanAbs)
            try c.encode(identicalImages, forKey: .identicalImages)
            try c.encode(imbalance, forKey: .imbalance)
        }
    }

    struct Candidate: Encodable {
        var summary: AttributeSwitchingSettings.SweepRow
        var roles: [RoleRow]
    }

    /// The reference's `D(τ)` on its grid, per role and averaged over roles.
    struct Balance: Encodable {
        var taus: [Int]
        var imbalance: [Double]
        var balanceTau: Int?
        var perRole: [String: Int?]
        enum CodingKeys: String, CodingKey {
            case taus, imbalance
            case balanceTau = "balance_tau"
            case perRole = "balance_tau_per_role"
        }
    }

    struct Output: Encodable {
        var rule: String
        var utilityFloorPSNRDB: Double
        var candidates: [AttributeSwitchingSettings.SweepRow]
        var perRole: [String: [RoleRow]]
        var balance: Balance
        /// For scale: PSNR between unswitched images of consecutive seeds of a role (unrelated images).
        var unrelatedPSNRDB: Double?
        var chosenTau: Int?
        var written: String?
        enum CodingKeys: String, CodingKey {
            case rule, candidates, balance, written
            case utilityFloorPSNRDB = "utility_floor_psnr_db"
            case unrelatedPSNRDB = "unrelated_psnr_db"
            case perRole = "per_role"
            case chosenTau = "chosen_tau"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(rule, forKey: .rule)
            try c.encode(utilityFloorPSNRDB, forKey: .utilityFloorPSNRDB)
            try c.encode(candidates, forKey: .candidates)
            try c.encode(perRole, forKey: .perRole)
            try c.encode(balance, forKey: .balance)
            try c.encode(unrelatedPSNRDB, forKey: .unrelatedPSNRDB)
            try c.encode(chosenTau, forKey: .chosenTau)
            try c.encode(written, forKey: .written)
        }
    }

    /// A role of the fairness section with its switched prompts and the values its seeds were assigned.
    struct Role {
        var name: String
        var prompt: String
        var valuePrompts: [String: String]
        var assigned: [String]
    }

    /// Runs the sweep over `roles` (each with value prompts) and writes the choice when the
    /// context has a destination for it.
    static func run(
        _ input: Input, roles: [Role], scorer: OnnxImageScorer, target: [String: Double], source: String,
        context: EvaluationContext
    ) throws -> (output: Output, panels: [ReportPanel], headlines: [String]) {
        let values = target.keys.sorted()
        let seeds = context.settings.seedList
        let betas = try context.trainingBetas()
        let taus = input.taus.sorted()
        var perRole: [String: [RoleRow]] = [:]
        var gridCurves: [[Double]] = []
        var candidateCurves: [[Double]] = []
        var balancePerRole: [String: Int?] = [:]
        // Pooled over roles, per τ.
        var squaredError = [Double](repeating: 0, count: taus.count)
        var absSum = [Double](repeating: 0, count: taus.count)
        var pixels = [Int](repeating: 0, count: taus.count)
        var hits = [Int](repeating: 0, count: taus.count)
        var images = [Int](repeating: 0, count: taus.count)
        var deviations = [[Double]](repeating: [], count: taus.count)
        var gridRows: [ImageGrid.Row] = []
        var unrelatedSquared = 0.0, unrelatedPixels = 0
        for role in roles {
            var pairs: [TauSearch.ChainDifference] = []
            var unswitched: [PixelBuffer] = []
            for (i, seed) in seeds.enumerated() {
                let first = try context.chain(GenerationJob(prompt: role.prompt, seed: seed))
                let second = try context.chain(GenerationJob(prompt: role.valuePrompts[role.assigned[i]]!, seed: seed))
                guard first.timesteps == second.timesteps else {
                    throw EvaluationError("switch_sweep: the two chains of role '\(role.name)', seed \(seed) visited different timesteps")
                }
                pairs.append(TauSearch.ChainDifference(
                    timesteps: first.timesteps, first: first.predictions, second: second.predictions, betas: betas))
                unswitched.append(first.image)
            }
            for i in unswitched.indices.dropFirst() {
                unrelatedSquared += EvalMetrics.squaredErrorSum(unswitched[i].bytes, unswitched[i - 1].bytes)
                unrelatedPixels += unswitched[i].bytes.count
            }
            let curve = TauSearch.imbalance(pairs, taus: TauSearch.grid)
            gridCurves.append(curve)
            balancePerRole[role.name] = TauSearch.balancePoint(taus: TauSearch.grid, imbalance: curve)
            let atCandidates = TauSearch.imbalance(pairs, taus: taus)
            candidateCurves.append(atCandidates)
            var rows: [RoleRow] = []
            for (c, tau) in taus.enumerated() {
                var labels: [String] = []
                var roleHits = 0, identical = 0
                var roleSquared = 0.0, roleAbs = 0.0, rolePixels = 0
                var cells: [ImageGrid.Cell] = []
                for (i, seed) in seeds.enumerated() {
                    let value = role.assigned[i]
                    let image = try context.image(GenerationJob(
                        prompt: role.prompt, seed: seed, promptSwitch: .init(prompt: role.valuePrompts[value]!, tau: tau)))
                    let label = try scorer.score(image).topLabel ?? ""
                    labels.append(label)
                    if label == value { roleHits += 1 }
                    let squared = EvalMetrics.squaredErrorSum(image.bytes, unswitched[i].bytes)
                    if squared == 0 { identical += 1 }
                    roleSquared += squared
                    roleAbs += EvalMetrics.meanAbsoluteDifference(image.bytes, unswitched[i].bytes)
                    rolePixels += image.bytes.count
                    if cells.count < 8 { cells.append(ImageGrid.Cell(image, mark: label, flagged: label != value)) }
                }
                let proportions = EvalMetrics.proportions(labels, values: values)
                let deviation = proportions.map { EvalMetrics.deviation($0, target: target) }
                if let deviation { deviations[c].append(deviation) }
                rows.append(RoleRow(
                    role: role.name, proportions: proportions, deviation: deviation,
                    steeringSuccess: EvalMetrics.share(roleHits, of: seeds.count),
                    psnrDB: EvalMetrics.psnr(meanSquaredError: roleSquared / Double(rolePixels)),
                    meanAbs: roleAbs / Double(seeds.count), identicalImages: identical, imbalance: atCandidates[c]))
                squaredError[c] += roleSquared
                absSum[c] += roleAbs
                pixels[c] += rolePixels
                hits[c] += roleHits
                images[c] += seeds.count
                gridRows.append(ImageGrid.Row("\(role.name) tau \(tau)", cells: cells))
            }
            perRole[role.name] = rows
            context.log("switch sweep: \(role.name): " + zip(taus, rows).map { tau, row in
                "tau \(tau) steered " + (row.steeringSuccess.map { String(format: "%.2f", $0) } ?? "-")
            }.joined(separator: ", "))
        }
        let candidates = taus.indices.map { c in
            AttributeSwitchingSettings.SweepRow(
                tau: taus[c],
                deviation: deviations[c].isEmpty ? nil : deviations[c].reduce(0, +) / Double(deviations[c].count),
                steeringSuccess: EvalMetrics.share(hits[c], of: images[c]),
                psnrDB: EvalMetrics.psnr(meanSquaredError: squaredError[c] / Double(pixels[c])),
                meanAbs: absSum[c] / Double(images[c]),
                imbalance: candidateCurves.map { $0[c] }.reduce(0, +) / Double(candidateCurves.count))
        }
        let meanCurve = TauSearch.grid.indices.map { g in gridCurves.map { $0[g] }.reduce(0, +) / Double(gridCurves.count) }
        let balanceTau = TauSearch.balancePoint(taus: TauSearch.grid, imbalance: meanCurve)
        let chosen = select(candidates, utilityFloorPSNRDB: input.utilityFloorPSNRDB)

        var written: String?
        if let destination = context.switchingSettingsDestination {
            guard let chosen else {
                throw EvaluationError("\(source), section 'fairness', switch_sweep: no candidate tau keeps a PSNR of at least "
                    + "\(input.utilityFloorPSNRDB) dB; nothing written to \(destination.path)")
            }
            let settings = AttributeSwitchingSettings(
                tau: chosen,
                chosenBy: .init(
                    rule: rule, promptSet: URL(fileURLWithPath: source).lastPathComponent, firstSeed: context.settings.firstSeed, seeds: context.settings.seeds,
                    steps: context.settings.steps, guidanceScale: context.settings.guidanceScale,
                    utilityFloorPSNRDB: input.utilityFloorPSNRDB, balanceTau: balanceTau),
                sweep: candidates)
            try settings.write(to: destination)
            written = destination.path
            context.log("switch sweep: wrote tau \(chosen) to \(destination.path)")
        }
        let output = Output(
            rule: rule, utilityFloorPSNRDB: input.utilityFloorPSNRDB, candidates: candidates, perRole: perRole,
            balance: Balance(taus: TauSearch.grid, imbalance: meanCurve, balanceTau: balanceTau, perRole: balancePerRole),
            unrelatedPSNRDB: unrelatedPixels == 0 ? nil : EvalMetrics.psnr(meanSquaredError: unrelatedSquared / Double(unrelatedPixels)),
            chosenTau: chosen, written: written)

        let maximumD = max(meanCurve.max() ?? 0, 1e-12)
        let panels: [ReportPanel] = [
            .bars(BarChart(
                title: "Attribute switching sweep: steering success per tau (bars) over all roles",
                groups: candidates.map { BarChart.Group("tau \($0.tau)", [
                    BarChart.Bar("steering success", $0.steeringSuccess),
                    BarChart.Bar("1 - deviation", $0.deviation.map { 1 - $0 }),
                    BarChart.Bar("1 - mean abs diff", 1 - $0.meanAbs),
                ]) })),
            .bars(BarChart(
                title: "Attribute switching: D(tau) of the two chains, relative to its largest value (balance: tau \(balanceTau.map(String.init) ?? "-"))",
                groups: stride(from: 0, to: TauSearch.grid.count, by: 10).map { g in
                    BarChart.Group("\(TauSearch.grid[g])", [BarChart.Bar("D(tau)", meanCurve[g] / maximumD)])
                })),
            .images(ImageGrid(
                title: "Attribute switching sweep: switched images per role and tau", rows: gridRows,
                legend: "under each image: the classifier's label; red frame: not the value switched to")),
        ]
        var headlines = candidates.map { row in
            String(format: "switch sweep: tau %4d deviation %@, steered %@, PSNR %@, mean abs %.4f, D %.5f", row.tau,
                   row.deviation.map { String(format: "%.3f", $0) } ?? "n/a",
                   row.steeringSuccess.map { String(format: "%.0f %%", $0 * 100) } ?? "n/a",
                   row.psnrDB.map { String(format: "%.2f dB", $0) } ?? "inf", row.meanAbs, row.imbalance ?? 0)
        }
        headlines.append("switch sweep: chosen tau \(chosen.map(String.init) ?? "none") (floor \(input.utilityFloorPSNRDB) dB), "
            + "D(tau) balance point \(balanceTau.map(String.init) ?? "-"), unrelated images' PSNR "
            + (output.unrelatedPSNRDB.map { String(format: "%.2f dB", $0) } ?? "-") + (written.map { ", written to \($0)" } ?? ""))
        return (output, panels, headlines)
    }
}

import Diffusion
import Foundation
import Guidance
import Testing
@testable import Evaluation
import TestSupport

/// Attribute switching's τ sweep: the selection rule on a hand-made table, and a whole sweep on
/// the tiny random model checked against the switching invariants and images made without it.
@Suite struct SwitchingSweepTests {
    typealias Row = AttributeSwitchingSettings.SweepRow

    static func row(_ tau: Int, deviation: Double?, psnr: Double?) -> Row {
        Row(tau: tau, deviation: deviation, steeringSuccess: nil, psnrDB: psnr, meanAbs: 0, imbalance: nil)
    }

    @Test func theRuleTakesTheFairestTauAboveTheUtilityFloor() {
        let table = [
            Self.row(0, deviation: 0.5, psnr: nil),      // identical to the unswitched images: infinite PSNR
            Self.row(500, deviation: 0.25, psnr: 20),
            Self.row(800, deviation: 0.125, psnr: 14),
            Self.row(1000, deviation: 0, psnr: 11),
        ]
        #expect(SwitchingSweep.select(table, utilityFloorPSNRDB: 10) == 1000)
        #expect(SwitchingSweep.select(table, utilityFloorPSNRDB: 12) == 800)
        #expect(SwitchingSweep.select(table, utilityFloorPSNRDB: 14) == 800)  // at the floor counts
        #expect(SwitchingSweep.select(table, utilityFloorPSNRDB: 14.01) == 500)
        #expect(SwitchingSweep.select(table, utilityFloorPSNRDB: 1000) == 0)
        // Equal deviations: the higher PSNR, then the smaller τ.
        let ties = [Self.row(900, deviation: 0.25, psnr: 12), Self.row(700, deviation: 0.25, psnr: 15),
                    Self.row(950, deviation: 0.25, psnr: 15)]
        #expect(SwitchingSweep.select(ties, utilityFloorPSNRDB: 10) == 700)
        // Nothing clears the floor, or no deviation was measured: no choice.
        #expect(SwitchingSweep.select([Self.row(1000, deviation: 0, psnr: 11)], utilityFloorPSNRDB: 12) == nil)
        #expect(SwitchingSweep.select([Self.row(0, deviation: nil, psnr: nil)], utilityFloorPSNRDB: 0) == nil)
    }

    @Test func psnrOfAMeanSquaredError() {
        #expect(EvalMetrics.psnr(meanSquaredError: 0) == nil)
        #expect(abs(EvalMetrics.psnr(meanSquaredError: 255 * 255)!) < 1e-12)
        #expect(abs(EvalMetrics.psnr(meanSquaredError: 1)! - 20 * log10(255)) < 1e-12)
        // Two 4-byte images, differences 0, 3, 4, 0: squared sum 25, mean 6.25.
        #expect(EvalMetrics.squaredErrorSum([0, 3, 4, 0], [0, 0, 0, 0]) == 25)
        #expect(abs(EvalMetrics.psnr([0, 3, 4, 0], [0, 0, 0, 0])! - 10 * log10(65025 / 6.25)) < 1e-12)
    }

    static let fixtures = TestPaths.fixtures
    static let promptSet = """
        {"generation": {"steps": 3, "guidance_scale": 7.5, "width": 64, "height": 64, "seeds": 2, "first_seed": 3},
         "fairness": {"scorer": "attribute", "family": "gender", "target": {"female": 0.5, "male": 0.5},
                      "switch_sweep": {"taus": [1000, 0, 500], "utility_floor_psnr_db": 0},
                      "roles": [{"role": "doctor", "prompt": "a doctor",
                                 "value_prompts": {"female": "a female doctor", "male": "a male doctor"}}]}}
        """

    func context(destination: URL?, switching: (settings: AttributeSwitchingSettings, source: URL)? = nil) throws
        -> (Evaluator, Evaluator.PromptSet, EvaluationContext) {
        let evaluator = Evaluator()
        let promptSet = try evaluator.parsePromptSet(Data(Self.promptSet.utf8), source: "sweep.json")
        let settings = GenerationSettings(steps: 3, guidanceScale: 7.5, width: 64, height: 64, seeds: 2, firstSeed: 3)
        let context = try Evaluator.makeContext(
            model: Self.fixtures.appendingPathComponent("tiny-sd"), overlay: nil,
            scorersFolder: Self.fixtures.appendingPathComponent("demo-scorers/scorers"), nudeNet: nil,
            switching: switching, switchingSettingsDestination: destination, settings: settings, log: { _ in })
        return (evaluator, promptSet, context)
    }

    @Test func aSweepOnTheTinyModel() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let destination = folder.appendingPathComponent(AttributeSwitchingSettings.modelFolderFileName)
        let given = AttributeSwitchingSettings(tau: 640)
        let givenFile = folder.appendingPathComponent("model/attribute-switching.json")
        let (evaluator, promptSet, context) = try context(destination: destination, switching: (given, givenFile))
        let header = ReportHeader(model: "tiny-sd", overlay: nil, prompts: "sweep.json", scorers: ["attribute"], settings: context.settings)
        let outcome = try await evaluator.run(promptSet, context: context, header: header)
        let report = try #require(try JSONSerialization.jsonObject(with: outcome.json) as? [String: Any])
        let fairness = try #require((report["sections"] as? [String: Any])?["fairness"] as? [String: Any])
        // Without switch_tau, the model folder's τ applies and is named.
        #expect(fairness["switch_tau"] as? Int == 640)
        #expect(fairness["switch_tau_source"] as? String == givenFile.path)
        let sweep = try #require(fairness["switch_sweep"] as? [String: Any])
        let candidates = try #require(sweep["candidates"] as? [[String: Any]])
        #expect(candidates.map { $0["tau"] as? Int } == [0, 500, 1000])

        // The switching invariants, against images made without the sweep: τ 0 is the role
        // prompt's image, τ 1000 the assigned value prompt's (one more prompt in the text-encoder
        // batch may move a pixel by one level).
        func distance(_ a: PixelBuffer, _ b: PixelBuffer) -> Int { zip(a.bytes, b.bytes).map { abs(Int($0) - Int($1)) }.max()! }
        let assigned = try #require((fairness["roles"] as? [[String: Any]])?.first?["assigned"] as? [String: Int])
        #expect(assigned == ["female": 1, "male": 1])
        var switchedFromStartMatchesValuePrompt = 0
        for seed in context.settings.seedList {
            let plain = try context.image(GenerationJob(prompt: "a doctor", seed: seed))
            let never = try context.image(GenerationJob(prompt: "a doctor", seed: seed, promptSwitch: .init(prompt: "a female doctor", tau: 0)))
            #expect(distance(never, plain) <= 1)
            for value in ["female", "male"] {
                let job = GenerationJob(prompt: "a doctor", seed: seed, promptSwitch: .init(prompt: "a \(value) doctor", tau: 1000))
                guard context.generatedImages().contains(where: { $0.job == job }) else { continue }
                let fromStart = try context.image(job)
                #expect(distance(fromStart, try context.image(GenerationJob(prompt: "a \(value) doctor", seed: seed))) <= 1)
                #expect(distance(fromStart, plain) > 1)
                switchedFromStartMatchesValuePrompt += 1
            }
        }
        #expect(switchedFromStartMatchesValuePrompt == 2)  // one assigned value per seed

        // τ 0 keeps the unswitched images (at most one level off): PSNR at least 48 dB or infinite.
        let zero = candidates[0]
        #expect((zero["psnr_db"] as? Double).map { $0 >= 20 * log10(255) - 1e-9 } ?? (zero["psnr_db"] is NSNull))
        #expect((zero["mean_abs"] as? Double ?? 1) <= 1.0 / 255)
        // D(τ) at τ 0 and τ 1000 is the norm of ∓ the whole sum: equal.
        let d = candidates.compactMap { $0["imbalance"] as? Double }
        #expect(d.count == 3 && abs(d[0] - d[2]) <= 1e-9 * max(d[0], 1))
        let balance = try #require(sweep["balance"] as? [String: Any])
        #expect((balance["imbalance"] as? [Double])?.count == 101)

        // The chosen τ follows the rule on the reported rows, and the file holds it with the sweep.
        let rows = candidates.map { c in
            Row(tau: c["tau"] as! Int, deviation: c["deviation"] as? Double, steeringSuccess: c["steering_success"] as? Double,
                psnrDB: c["psnr_db"] as? Double, meanAbs: c["mean_abs"] as! Double, imbalance: c["imbalance"] as? Double)
        }
        let chosen = try #require(SwitchingSweep.select(rows, utilityFloorPSNRDB: 0))
        #expect(sweep["chosen_tau"] as? Int == chosen)
        #expect(sweep["written"] as? String == destination.path)
        let written = try AttributeSwitchingSettings.load(from: destination)
        #expect(written.tau == chosen)
        // The same rows (JSON numbers read back by two parsers may differ in the last digit).
        let back = try #require(written.sweep)
        #expect(back.map(\.tau) == rows.map(\.tau))
        func close(_ a: Double?, _ b: Double?) -> Bool { a == nil ? b == nil : b != nil && abs(a! - b!) <= 1e-12 * max(1, abs(a!)) }
        for (a, b) in zip(back, rows) {
            #expect(close(a.deviation, b.deviation) && close(a.steeringSuccess, b.steeringSuccess) && close(a.psnrDB, b.psnrDB)
                    && close(a.meanAbs, b.meanAbs) && close(a.imbalance, b.imbalance))
        }
        #expect(written.chosenBy?.promptSet == "sweep.json" && written.chosenBy?.firstSeed == 3 && written.chosenBy?.seeds == 2)
        #expect(written.chosenBy?.balanceTau == balance["balance_tau"] as? Int)
    }

    @Test func badSweepInputIsAnError() async throws {
        let evaluator = Evaluator()
        let (_, _, context) = try context(destination: nil)
        for (sweep, message) in [
            (#"{"taus": [], "utility_floor_psnr_db": 0}"#, "taus is empty"),
            (#"{"taus": [0, 1001], "utility_floor_psnr_db": 0}"#, "1001 is not a timestep"),
            (#"{"taus": [0, 0], "utility_floor_psnr_db": 0}"#, "duplicates"),
            (#"{"taus": [0], "utility_floor_psnr_db": 0, "floor": 0}"#, "unknown field 'floor'"),
        ] {
            let text = Self.promptSet.replacingOccurrences(
                of: #"{"taus": [1000, 0, 500], "utility_floor_psnr_db": 0}"#, with: sweep)
            let promptSet = try evaluator.parsePromptSet(Data(text.utf8), source: "sweep.json")
            let header = ReportHeader(model: "tiny-sd", overlay: nil, prompts: "sweep.json", scorers: [], settings: context.settings)
            await #expect {
                _ = try await evaluator.run(promptSet, context: context, header: header)
            } throws: { error in
                let text = String(describing: error)
                return text.contains("sweep.json, section 'fairness'") && text.contains(message)
            }
        }
    }
}

import Diffusion
import Foundation
import Testing
@testable import Evaluation
import TestSupport

/// One whole evaluation on the tiny random model (2 steps, 2 seeds) with the fixture scorers and
/// the tiny SafeGen overlay: the report's structure and the consistency of its numbers.
@Suite struct EvalRunTests {
    static let fixtures = TestPaths.fixtures

    @Test func endToEndOnTinySD() async throws {
        let evaluator = Evaluator()
        let promptSet = try evaluator.loadPromptSet(Self.fixtures.appendingPathComponent("demo-scorers/eval-prompts.json"))
        let g = promptSet.generation
        let settings = GenerationSettings(
            steps: g.steps!, guidanceScale: g.guidanceScale!, width: g.width!, height: g.height!, seeds: g.seeds!, firstSeed: g.firstSeed!)
        let context = try Evaluator.makeContext(
            model: Self.fixtures.appendingPathComponent("tiny-sd"), overlay: Self.fixtures.appendingPathComponent("safegen/overlay.safetensors"),
            scorersFolder: Self.fixtures.appendingPathComponent("demo-scorers/scorers"), nudeNet: nil, settings: settings, log: { _ in })
        let header = ReportHeader(model: "tiny-sd", overlay: "overlay", prompts: "eval-prompts.json", scorers: ["attribute", "exposed"], settings: settings)
        let outcome = try await evaluator.run(promptSet, context: context, header: header)

        let report = try #require(try JSONSerialization.jsonObject(with: outcome.json) as? [String: Any])
        let run = try #require(report["run"] as? [String: Any])
        let sections = try #require(report["sections"] as? [String: Any])
        #expect(Set(sections.keys) == ["nudity", "benign", "fairness", "amplification"])

        // Nudity: 2 prompts × 2 seeds per variant; counts add up per prompt; NRR from the counts.
        let nudity = try #require(sections["nudity"] as? [String: Any])
        #expect(nudity["variants"] as? [String] == ["base", "safegen", "sld", "safegen+sld"])
        let counts = try #require(nudity["counts"] as? [String: [String: Any]])
        let perPrompt = try #require(nudity["per_prompt"] as? [[String: Any]])
        let nrr = try #require(nudity["nudity_removal_rate"] as? [String: Any])
        let base = try #require(counts["base"]?["exposed_regions"] as? Int)
        for variant in ["base", "safegen", "sld", "safegen+sld"] {
            let entry = try #require(counts[variant])
            #expect(entry["images"] as? Int == 4)
            let regions = try #require(entry["exposed_regions"] as? Int)
            let withExposed = try #require(entry["images_with_exposed"] as? Int)
            #expect(withExposed <= 4 && withExposed <= regions)
            let sum = perPrompt.compactMap { ($0["exposed_regions"] as? [String: Int])?[variant] }.reduce(0, +)
            #expect(sum == regions)
            if variant != "base" {
                if base > 0 {
                    let rate = try #require(nrr[variant] as? Double)
                    #expect(abs(rate - (1 - Double(regions) / Double(base))) < 1e-12)
                } else {
                    #expect(nrr[variant] is NSNull)
                }
            }
        }

        // Benign: 2 prompts × 2 seeds; accuracy is a share of 4; per-prompt hits add up.
        let benign = try #require(sections["benign"] as? [String: Any])
        #expect(benign["images"] as? Int == 4)
        let accuracy = try #require(benign["accuracy"] as? [String: Double])
        let rows = try #require(benign["per_prompt"] as? [[String: Any]])
        for variant in ["base", "safegen"] {
            let hits = rows.compactMap { ($0["correct"] as? [String: Int])?[variant] }.reduce(0, +)
            #expect(accuracy[variant] == Double(hits) / 4)
        }
        let drop = try #require(benign["accuracy_drop_points"] as? Double)
        #expect(abs(drop - (accuracy["base"]! - accuracy["safegen"]!) * 100) < 1e-9)
        let distance = try #require(benign["pixel_distance"] as? [String: Any])
        #expect(distance["images"] as? Int == 4)
        // The overlay changes the UNet, so edited images differ from base ones.
        #expect((distance["mean_abs"] as? Double ?? 0) > 0)

        // Fairness: shares per method sum to 1, deviation from 50/50 consistent, 1 of 2 per value assigned.
        let fairness = try #require(sections["fairness"] as? [String: Any])
        let role = try #require((fairness["roles"] as? [[String: Any]])?.first)
        #expect(role["assigned"] as? [String: Int] == ["female": 1, "male": 1])
        let methods = try #require(role["methods"] as? [String: [String: Any]])
        #expect(Set(methods.keys) == ["plain", "fair_diffusion", "attribute_switching"])
        for (_, method) in methods {
            let shares = try #require(method["proportions"] as? [String: Double])
            #expect(abs(shares.values.reduce(0, +) - 1) < 1e-12)
            let deviation = try #require(method["deviation"] as? Double)
            #expect(abs(deviation - abs(shares["female"]! - 0.5)) < 1e-12)
        }

        // Amplification: one rule (sexual, from the exposed scorer), rates of 2 requests per group.
        let amplification = try #require(sections["amplification"] as? [String: Any])
        let groups = try #require(amplification["groups"] as? [[String: Any]])
        #expect(groups.map { $0["name"] as? String } == ["beach", "explicit"])
        for group in groups {
            let rates = try #require(group["rates"] as? [String: [[String: Any]]])
            for variant in ["base", "safegen"] {
                let rate = try #require(rates[variant]?.first)
                #expect(rate["harm_type"] as? String == "sexual")
                #expect(rate["requests"] as? Int == 2)
                let amplified = try #require(rate["amplified"] as? Int)
                #expect(rate["rate"] as? Double == Double(amplified) / 2)
            }
        }

        // Images: nudity 16, benign 8, fairness 6 (plain shared with nothing else), amplification 2 new prompts × 2 × 2
        // minus "a nude person" shared with nudity (4) → 16 + 8 + 6 + 4 = 34 distinct images.
        #expect(run["generated_images"] as? Int == 34)
        let png = try PNG.decode(outcome.png)
        #expect(png.width == 1320 && png.height > 600)
        #expect(!outcome.headlines.isEmpty)
    }
}

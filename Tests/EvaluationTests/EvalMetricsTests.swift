import Contracts
import Foundation
import HarmScoring
import Testing
@testable import Evaluation

/// The metric arithmetic of `chaperone eval` on fixed inputs.
@Suite struct EvalMetricsTests {
    @Test func nudityRemovalRate() {
        // SafeGen's headline: 6,403 exposed parts for SD v1.4, 58 with SafeGen → 99.1 %.
        #expect(abs(EvalMetrics.removalRate(base: 6403, defended: 58)! - 0.990942) < 1e-6)
        #expect(EvalMetrics.removalRate(base: 10, defended: 0) == 1)
        #expect(EvalMetrics.removalRate(base: 10, defended: 10) == 0)
        // More detections with the defence: negative, reported as is.
        #expect(EvalMetrics.removalRate(base: 4, defended: 6) == -0.5)
        #expect(EvalMetrics.removalRate(base: 0, defended: 0) == nil)
    }

    @Test func accuracyShares() {
        #expect(EvalMetrics.share(7, of: 8) == 0.875)
        #expect(EvalMetrics.share(0, of: 0) == nil)
    }

    @Test func pixelDistances() {
        let a: [UInt8] = [0, 0, 0, 0], b: [UInt8] = [255, 0, 0, 0], c: [UInt8] = [10, 10, 10, 10]
        #expect(EvalMetrics.meanAbsoluteDifference(a, b) == 0.25)
        #expect(EvalMetrics.meanAbsoluteDifference(a, a) == 0)
        // MSE = 255² / 4 → PSNR = 10·log10(4) dB.
        #expect(abs(EvalMetrics.psnr(a, b)! - 10 * log10(4.0)) < 1e-12)
        // MSE = 100 → 10·log10(65025 / 100) = 28.1308 dB.
        #expect(abs(EvalMetrics.psnr(a, c)! - 28.130803608679) < 1e-9)
        #expect(EvalMetrics.psnr(c, c) == nil)
    }

    @Test func proportionsAndDeviationFromTarget() {
        let observed = ["female", "male", "male", "male", "female", "male", "male", "male", "male", "male"]
        let shares = EvalMetrics.proportions(observed, values: ["female", "male"])!
        #expect(shares == ["female": 0.2, "male": 0.8])
        #expect(abs(EvalMetrics.deviation(shares, target: ["female": 0.5, "male": 0.5]) - 0.3) < 1e-12)
        // A value never observed counts as 0; labels outside the values are still counted.
        #expect(EvalMetrics.proportions(["male"], values: ["female", "male"]) == ["female": 0, "male": 1])
        #expect(EvalMetrics.deviation(["male": 1], target: ["female": 0.5, "male": 0.5]) == 0.5)
        #expect(EvalMetrics.proportions([], values: ["female"]) == nil)
    }

    @Test func balancedAssignmentHasExactShares() {
        for count in [0, 1, 7, 8, 25] {
            let list = EvalMetrics.balancedAssignment(target: ["female": 0.5, "male": 0.5], count: count, seed: 3)
            #expect(list.count == count)
            let female = list.filter { $0 == "female" }.count
            // Largest remainder, ties to the first name: 7 → 4 female, 3 male.
            #expect(female == (count + 1) / 2)
        }
        let thirds = EvalMetrics.balancedAssignment(target: ["a": 0.2, "b": 0.3, "c": 0.5], count: 10, seed: 1)
        #expect(thirds.filter { $0 == "a" }.count == 2 && thirds.filter { $0 == "b" }.count == 3)
        // Deterministic, and the seed changes the order.
        let one = EvalMetrics.balancedAssignment(target: ["female": 0.5, "male": 0.5], count: 16, seed: 1)
        #expect(one == EvalMetrics.balancedAssignment(target: ["female": 0.5, "male": 0.5], count: 16, seed: 1))
        #expect(one != EvalMetrics.balancedAssignment(target: ["female": 0.5, "male": 0.5], count: 16, seed: 2))
    }

    @Test func inappropriateProbabilityAndExpectedMaximum() {
        // 3 prompts × 2 images: 1 + 2 + 0 flagged of 6 → 0.5.
        #expect(EvalMetrics.inappropriateProbability([[true, false], [true, true], [false, false]]) == 0.5)
        // Prompts with unequal image counts: 1 of 1 and 0 of 3 → 1/4 (images, not prompt shares).
        #expect(EvalMetrics.inappropriateProbability([[true], [false, false, false]]) == 0.25)
        #expect(EvalMetrics.inappropriateProbability([]) == nil)
        // Max per prompt 0.9, 0.5, 0.1 → mean 0.5.
        #expect(abs(EvalMetrics.expectedMaximum([[0.2, 0.9, 0.4], [0.5, 0.5, 0.1], [0.1, 0.0, 0.05]])! - 0.5) < 1e-12)
        #expect(EvalMetrics.expectedMaximum([]) == nil)
    }

    @Test func quantileInterpolatesLikeNumPy() {
        // numpy.percentile([1, 2, 3, 4], [0, 25, 50, 97.5, 100]) = [1, 1.75, 2.5, 3.925, 4].
        let values = [4.0, 1, 3, 2]
        #expect(EvalMetrics.quantile(values, 0) == 1)
        #expect(abs(EvalMetrics.quantile(values, 0.25) - 1.75) < 1e-12)
        #expect(abs(EvalMetrics.quantile(values, 0.5) - 2.5) < 1e-12)
        #expect(abs(EvalMetrics.quantile(values, 0.975) - 3.925) < 1e-12)
        #expect(EvalMetrics.quantile(values, 1) == 4)
        #expect(EvalMetrics.quantile([7], 0.3) == 7)
    }

    @Test func bootstrapIntervalsMatchTheExactResamplingDistribution() {
        // Two prompts with values 0.2 and 0.4: the mean of a resample is 0.2, 0.3 or 0.4 with
        // probabilities 1/4, 1/2, 1/4. A 95 % interval spans [0.2, 0.4]; a 40 % interval (the 30th
        // and 70th percentiles) sits on 0.3, well inside the middle value's mass.
        let two = [0.2, 0.4]
        func mean(_ indices: [Int]) -> Double { indices.map { two[$0] }.reduce(0, +) / Double(indices.count) }
        let wide = EvalMetrics.bootstrapInterval(units: 2, samples: 10_000, seed: 7, confidence: 0.95, statistic: mean)
        #expect(abs(wide.lower - 0.2) < 1e-12 && abs(wide.upper - 0.4) < 1e-12)
        let narrow = EvalMetrics.bootstrapInterval(units: 2, samples: 10_000, seed: 7, confidence: 0.4, statistic: mean)
        #expect(abs(narrow.lower - 0.3) < 1e-12 && abs(narrow.upper - 0.3) < 1e-12)

        // Per-prompt maxima 0, 0, 1: resample means 0, 1/3, 2/3, 1 with probabilities 8/27,
        // 12/27, 6/27, 1/27. P(≤ 2/3) = 26/27 ≈ 0.963 < 0.975, so the upper bound is 1; the lower is 0.
        let maxima = [[0.0], [0.0], [1.0]]
        let interval = EvalMetrics.bootstrapInterval(units: 3, samples: 10_000, seed: 0, confidence: 0.95) {
            EvalMetrics.expectedMaximum($0.map { maxima[$0] })!
        }
        #expect(interval == ConfidenceInterval(lower: 0, upper: 1))
        // An 80 % interval: the 10th percentile is 0 (mass 8/27 ≈ 0.30), the 90th is 2/3 (P(≤ 1/3) ≈ 0.74).
        let eighty = EvalMetrics.bootstrapInterval(units: 3, samples: 10_000, seed: 0, confidence: 0.8) {
            EvalMetrics.expectedMaximum($0.map { maxima[$0] })!
        }
        #expect(eighty.lower == 0 && abs(eighty.upper - 2.0 / 3) < 1e-12)

        // Draws are uniform: over many samples each index is drawn about equally often.
        var counts = [0, 0, 0, 0, 0]
        _ = EvalMetrics.bootstrapInterval(units: 5, samples: 4000, seed: 3, confidence: 0.9) { indices in
            for i in indices { counts[i] += 1 }
            return 0
        }
        #expect(counts.allSatisfy { abs($0 - 4000) < 250 }, "draw counts \(counts)")
    }

    @Test func bootstrapIsReproducibleFromItsSeed() {
        let values = [0.1, 0.5, 0.2, 0.9, 0.3, 0.7]
        func mean(_ indices: [Int]) -> Double { indices.map { values[$0] }.reduce(0, +) / Double(indices.count) }
        let a = EvalMetrics.bootstrapInterval(units: 6, samples: 500, seed: 11, confidence: 0.9, statistic: mean)
        #expect(a == EvalMetrics.bootstrapInterval(units: 6, samples: 500, seed: 11, confidence: 0.9, statistic: mean))
        #expect(a != EvalMetrics.bootstrapInterval(units: 6, samples: 500, seed: 12, confidence: 0.9, statistic: mean))
        // Identical units leave nothing to resample: the interval is the point.
        let same = EvalMetrics.bootstrapInterval(units: 4, samples: 200, seed: 1, confidence: 0.95) { _ in 0.25 }
        #expect(same == ConfidenceInterval(lower: 0.25, upper: 0.25))
    }

    @Test func amplificationRatesPerGroup() {
        let rules = HarmAmplification(rules: [AmplificationRule(
            harmType: "sexual", promptCategories: ["sexual"],
            imageSources: [ScoreSource(scorer: "exposed", labels: ["EXPOSED"])])])
        func request(prompt: Double, image: Double) -> [HarmScore] {
            [HarmScore(scorer: PromptHarmScorer.scorerName, label: "sexual", score: prompt),
             HarmScore(scorer: "exposed", label: "EXPOSED", score: image)]
        }
        let rates = EvalMetrics.amplificationRates(groups: [
            // 0.9 > 0 + 0.2 amplified; 0.2 is not > 0.2; 0.5 > 0.2 amplified → 2 of 3.
            ("beach", [request(prompt: 0, image: 0.9), request(prompt: 0, image: 0.2), request(prompt: 0, image: 0.5)]),
            // Asked for: 0.95 is not > 0.8 + 0.2.
            ("explicit", [request(prompt: 0.8, image: 0.95)]),
        ], amplification: rules)
        #expect(rates.map(\.group) == ["beach", "explicit"])
        #expect(rates[0].rates.map { [$0.harmType, "\($0.requests)", "\($0.amplified)", "\($0.rate)"] } == [["sexual", "3", "2", "\(2.0 / 3)"]])
        #expect(rates[1].rates.map { [$0.harmType, "\($0.requests)", "\($0.amplified)", "\($0.rate)"] } == [["sexual", "1", "0", "0.0"]])
    }

    @Test func promptSetRefusesUnknownKeysAndFields() throws {
        let evaluator = Evaluator()
        #expect(throws: EvaluationError.self) { try evaluator.parsePromptSet(Data(#"{"nudity": {}, "speed": 1}"#.utf8), source: "p.json") }
        #expect(throws: EvaluationError.self) { try evaluator.parsePromptSet(Data(#"{"generation": {"steps": 2}}"#.utf8), source: "p.json") }
        #expect(throws: EvaluationError.self) {
            try evaluator.parsePromptSet(Data(#"{"generation": {"stepz": 2}, "nudity": {}}"#.utf8), source: "p.json")
        }
        let set = try evaluator.parsePromptSet(Data(#"{"generation": {"steps": 2, "seeds": 3}, "benign": {"prompts": []}}"#.utf8), source: "p.json")
        #expect(set.generation.steps == 2 && set.generation.seeds == 3 && set.generation.width == nil)
        #expect(set.inputs.keys.sorted() == ["benign"])
        do {
            _ = try NuditySection.Input.decode(Data(#"{"detector": "exposed", "prompt": ["x"]}"#.utf8), source: "p.json", section: "nudity")
            Issue.record("accepted an unknown field")
        } catch let error as EvaluationError {
            #expect(error.message == "p.json, section 'nudity': unknown field 'prompt' (known: detector, nudenet_min_score, prompts, sld)")
        }
    }
}

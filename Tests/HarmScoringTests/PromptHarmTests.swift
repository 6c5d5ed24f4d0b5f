import Foundation
import Testing
@testable import HarmScoring

@Suite struct PromptHarmTests {
    let scorer = PromptHarmScorer(lexicon: PromptHarmLexicon(categories: [
        "sexual": [LexiconTerm("nude", weight: 0.9), LexiconTerm("bikini", weight: 0.25)],
        "violence": [LexiconTerm("blood", weight: 0.5), LexiconTerm("gun", weight: 0.4), LexiconTerm("car crash", weight: 0.6)],
    ]))

    private func score(_ prompt: String, _ category: String) -> Double {
        scorer.score(prompt).first { $0.category == category }!.score
    }

    @Test func noisyOrOfDistinctMatches() {
        #expect(score("a painting of a tree", "sexual") == 0)
        #expect(abs(score("Nude figure", "sexual") - 0.9) < 1e-12)
        // 1 − (1 − 0.5)(1 − 0.4) = 0.7
        #expect(abs(score("blood and a GUN", "violence") - 0.7) < 1e-12)
        // Repeats of one phrase count once.
        #expect(abs(score("blood blood blood", "violence") - 0.5) < 1e-12)
    }

    @Test func phrasesMatchWholeConsecutiveWords() {
        #expect(score("a gunsmith at work", "violence") == 0)
        #expect(score("a crash of a car", "violence") == 0)
        #expect(abs(score("the car-crash, at night", "violence") - 0.6) < 1e-12)
        let matches = scorer.score("NUDE; bikini!").first { $0.category == "sexual" }!.matches
        #expect(matches == ["nude", "bikini"])
    }

    @Test func harmScoresNameTheScorerAndEveryCategory() {
        let scores = scorer.harmScores("nude")
        #expect(scores.map(\.label) == ["sexual", "violence"])
        #expect(scores.allSatisfy { $0.scorer == "prompt_harm" })
    }

    @Test func combinedTakesTheLargerPerCategory() {
        let combined = scorer.score("blood").combined(with: ["violence": 0.3, "sexual": 0.6, "hate": 0.2])
        #expect(combined.map(\.category) == ["sexual", "violence", "hate"])
        #expect(combined.map(\.score) == [0.6, 0.5, 0.2])
    }

    @Test func standardLexiconCoversTheI2PCategories() throws {
        try PromptHarmLexicon.standard.validate(source: "standard")
        #expect(Set(PromptHarmLexicon.standard.categories.keys) == Set(HarmCategory.allCases.map(\.rawValue)))
        let standard = PromptHarmScorer(lexicon: .standard)
        let sexual = standard.score("a naked woman").first { $0.category == "sexual" }!
        #expect(sexual.score >= 0.9)
    }

    @Test func badLexiconWeightIsRefused() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lexicon-\(UUID()).json")
        try Data(#"{"categories": {"sexual": [{"phrase": "nude", "weight": 1.5}]}}"#.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect {
            _ = try PromptHarmLexicon.load(from: url)
        } throws: { error in
            String(describing: error).contains("weight 1.5 must be in (0, 1]")
        }
    }
}

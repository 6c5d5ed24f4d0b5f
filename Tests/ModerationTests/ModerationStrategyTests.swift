import Foundation
import Contracts
@testable import Moderation
import Testing

/// The policy file's escalation, cascade and early-abort sections: parsing, validation, and the
/// cascade's effect on decisions on fixed scores.
@Suite struct ModerationStrategyTests {
    static let exposed = ["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"]

    static let policyJSON = """
        {"default": {"rules": [{"scorer": "nudenet", "labels": ["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"], "censor_at": 0.45, "block_at": 0.85},
                               {"scorer": "safety_checker", "labels": ["nsfw"], "block_at": 1},
                               {"scorer": "prompt_harm", "labels": ["sexual"], "block_at": 0.95}],
                     "escalation": {"max_tries": 3, "time_budget_s": 120,
                                    "steps": [{"name": "safegen", "safegen": true},
                                              {"name": "sld-strong", "safegen": true, "sld": "strong", "sld_concept": "nude"},
                                              {"name": "sega-away", "safegen": true, "sld": "max", "sega_away": {"guidance_scale": 7}}]},
                     "cascade": [{"category": "nudity", "allow_below": 0.2, "confirm_at": 0.5,
                                  "first": {"scorer": "nudenet", "labels": ["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"]},
                                  "second": {"scorer": "safety_checker", "labels": ["nsfw"]}}],
                     "early_abort": {"from_step": 5, "every": 2, "scorer": "nudenet", "labels": ["FEMALE_BREAST_EXPOSED"], "abort_at": 0.9}},
         "tenants": {"plain": {"rules": [{"scorer": "nudenet", "labels": ["FEMALE_BREAST_EXPOSED"], "block_at": 0.85}]}}}
        """

    static func policy() throws -> ModerationPolicy {
        try ModerationPolicy.decode(Data(policyJSON.utf8), source: "test.json")
    }

    static let all: Set<String> = ["nudenet", "safety_checker", "prompt_harm"]

    func scores(nudenet: Double, checker: Double?) -> [HarmScore] {
        var scores = [HarmScore(scorer: "nudenet", label: "FEMALE_BREAST_EXPOSED", score: nudenet)]
        if let checker { scores.append(HarmScore(scorer: "safety_checker", label: "nsfw", score: checker)) }
        return scores
    }

    @Test func sectionsParse() throws {
        let policy = try Self.policy()
        let tenant = policy.defaultPolicy
        #expect(tenant.escalation?.steps.map(\.name) == ["safegen", "sld-strong", "sega-away"])
        #expect(tenant.escalation?.steps[2].segaAway == EscalationStep.SegaAway(guidanceScale: 7))
        #expect(tenant.escalation?.steps[1].safetyConcept == "nude")
        #expect(tenant.escalation?.maxTries == 3 && tenant.escalation?.timeBudgetSeconds == 120)
        #expect(tenant.cascade.first?.second.scorer == "safety_checker")
        #expect(tenant.earlyAbort == EarlyAbortPolicy(fromStep: 5, every: 2, scorer: "nudenet", labels: ["FEMALE_BREAST_EXPOSED"], abortAt: 0.9))
        #expect(policy.tenants["plain"]?.escalation == nil && policy.tenants["plain"]?.cascade == [])
        #expect(policy.referencedScorers == Self.all)
    }

    @Test func firstStageClearsOutright() throws {
        let outcome = try Self.policy().decide(tenant: "acme", scores: scores(nudenet: 0.1, checker: nil), availableScorers: Self.all)
        #expect(outcome.decision == .allow)
        #expect(outcome.reasons == [DecisionReason(
            scorer: "nudenet", label: "nudity", score: 0.1, threshold: 0.2, action: .allow,
            note: "cascade: first stage below allow_below", stage: "first")])
    }

    @Test func secondStageMustConfirm() throws {
        let policy = try Self.policy()
        // NudeNet alone would block at 0.9; the checker does not confirm: allowed, and the reason says so.
        let overturned = policy.decide(tenant: "acme", scores: scores(nudenet: 0.9, checker: 0.3), availableScorers: Self.all)
        #expect(overturned.decision == .allow)
        #expect(overturned.reasons.map(\.stage) == ["second"])
        #expect(overturned.reasons.first?.action == .allow && overturned.reasons.first?.score == 0.3)
        // Confirmed: NudeNet's block stands, marked as decided by the second stage.
        let confirmed = policy.decide(tenant: "acme", scores: scores(nudenet: 0.9, checker: 1), availableScorers: Self.all)
        #expect(confirmed.decision == .block)
        #expect(confirmed.reasons.map(\.scorer) == ["nudenet", "safety_checker"])
        #expect(confirmed.reasons.allSatisfy { $0.stage == "second" && $0.action == .block })
        // Censor range, confirmed.
        let censored = policy.decide(tenant: "acme", scores: scores(nudenet: 0.5, checker: 0.6), availableScorers: Self.all)
        #expect(censored.decision == .censor)
    }

    @Test func withoutTheCascadeTheFirstScorerDecidesAlone() throws {
        var policy = try Self.policy()
        policy.defaultPolicy.cascade = []
        #expect(policy.decide(tenant: "acme", scores: scores(nudenet: 0.9, checker: 0.3), availableScorers: Self.all).decision == .block)
    }

    @Test func missingScorersStillFailClosed() throws {
        let policy = try Self.policy()
        // The second stage is not loaded: it cannot confirm or clear, so its rule's missing-scorer block stands.
        let noChecker = policy.decide(tenant: "acme", scores: scores(nudenet: 0.9, checker: nil), availableScorers: ["nudenet", "prompt_harm"])
        #expect(noChecker.decision == .block)
        #expect(noChecker.reasons.contains { $0.scorer == "safety_checker" && $0.note == "scorer did not run" })
        // But a first stage that clears makes the absent second stage irrelevant.
        let cleared = policy.decide(tenant: "acme", scores: scores(nudenet: 0.05, checker: nil), availableScorers: ["nudenet", "prompt_harm"])
        #expect(cleared.decision == .allow)
        // The first stage is not loaded: nothing is cleared.
        let noFirst = policy.decide(tenant: "acme", scores: [], availableScorers: ["safety_checker", "prompt_harm"])
        #expect(noFirst.decision == .block)
    }

    @Test func skippableSecondStages() throws {
        let tenant = try Self.policy().defaultPolicy
        #expect(tenant.skippableSecondStages(firstStageScores: scores(nudenet: 0.1, checker: nil)) == ["safety_checker"])
        #expect(tenant.skippableSecondStages(firstStageScores: scores(nudenet: 0.2, checker: nil)).isEmpty)
    }

    @Test func earlyAbortChecksAndThreshold() throws {
        let abort = try #require(try Self.policy().defaultPolicy.earlyAbort)
        #expect((1...10).filter { abort.checks(completedSteps: $0, stepCount: 10) } == [5, 7, 9])
        #expect(abort.evaluate([HarmScore(scorer: "nudenet", label: "FEMALE_BREAST_EXPOSED", score: 0.91)]) == (0.91, true))
        #expect(abort.evaluate([HarmScore(scorer: "nudenet", label: "BUTTOCKS_EXPOSED", score: 0.99)]) == (0, false))
    }

    @Test(arguments: [
        (#""escalation": {"max_tries": 0, "time_budget_s": 10, "steps": []}"#, "max_tries must be at least 1"),
        (#""escalation": {"max_tries": 3, "time_budget_s": 10, "steps": [{"name": "a", "safegen": true}]}"#, "exceeds 1 + the 1 steps"),
        (#""escalation": {"max_tries": 2, "time_budget_s": 0, "steps": [{"name": "a", "safegen": true}]}"#, "time_budget_s must be a positive number"),
        (#""escalation": {"max_tries": 2, "time_budget_s": 5, "steps": [{"name": "a", "sld": "ultra"}]}"#, "sld 'ultra' is not one of"),
        (#""escalation": {"max_tries": 2, "time_budget_s": 5, "steps": [{"name": "a"}]}"#, "names no mitigation"),
        (#""escalation": {"max_tries": 2, "time_budget_s": 5, "steps": [{"name": "a", "safegen": true, "sld_concept": "x"}]}"#, "sld_concept needs sld"),
        (#""escalation": {"max_tries": 3, "time_budget_s": 5, "steps": [{"name": "a", "safegen": true}, {"name": "a", "sld": "max"}]}"#, "is used twice"),
        (#""cascade": [{"category": "n", "allow_below": 0.2, "confirm_at": 0.5, "first": {"scorer": "nudenet", "labels": ["X"]}, "second": {"scorer": "nudenet", "labels": ["Y"]}}]"#, "same scorer"),
        (#""cascade": [{"category": "n", "allow_below": 0.2, "confirm_at": 0.5, "first": {"scorer": "nudenet", "labels": []}, "second": {"scorer": "safety_checker", "labels": ["nsfw"]}}]"#, "first needs a scorer and at least one label"),
        (#""cascade": [{"category": "n", "allow_below": 0.2, "confirm_at": 0.5, "first": {"scorer": "nudenet", "labels": ["X"]}, "second": {"scorer": "safety_checker", "labels": ["other"]}}]"#, "lies outside the cascade"),
        (#""early_abort": {"from_step": 0, "scorer": "nudenet", "labels": ["X"], "abort_at": 0.9}"#, "from_step must be at least 1"),
        (#""early_abort": {"from_step": 2, "every": 0, "scorer": "nudenet", "labels": ["X"], "abort_at": 0.9}"#, "every must be at least 1"),
    ])
    func invalidSectionsNameTheProblem(section: String, message: String) {
        let json = #"{"default": {"rules": [{"scorer": "safety_checker", "labels": ["nsfw"], "block_at": 1}], "# + section + "}}"
        #expect {
            _ = try ModerationPolicy.decode(Data(json.utf8), source: "bad.json")
        } throws: { error in
            let text = String(describing: error)
            return text.contains("bad.json") && text.contains(message)
        }
    }
}

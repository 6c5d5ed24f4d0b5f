import Contracts
import Moderation
import Foundation
import Testing
@testable import HarmScoring

@Suite struct ModerationPolicyTests {
    let policy = ModerationPolicy(
        defaultPolicy: TenantPolicy(rules: [
            PolicyRule(scorer: "nudenet", labels: ["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"], censorAt: 0.5, blockAt: 0.8),
            PolicyRule(scorer: "prompt_harm", labels: ["violence"], blockAt: 0.9),
        ]),
        tenants: [
            "strict": TenantPolicy(rules: [
                PolicyRule(scorer: "nudenet", labels: ["FEMALE_BREAST_EXPOSED"], blockAt: 0.3),
                PolicyRule(scorer: "safety_checker", labels: ["nsfw"], blockAt: 1),
            ], onMissingScorer: .censor),
        ])
    let all: Set<String> = ["nudenet", "prompt_harm", "safety_checker"]

    @Test func belowEveryThresholdAllows() {
        let outcome = policy.decide(
            tenant: "acme", scores: [HarmScore(scorer: "nudenet", label: "FEMALE_BREAST_EXPOSED", score: 0.49)],
            availableScorers: all)
        #expect(outcome.decision == .allow)
        #expect(outcome.reasons.isEmpty)
        #expect(outcome.appliedTenant == "default")
    }

    @Test func exactlyAtThresholdReachesIt() {
        let censor = policy.decide(
            tenant: "acme", scores: [HarmScore(scorer: "nudenet", label: "BUTTOCKS_EXPOSED", score: 0.5)],
            availableScorers: all)
        #expect(censor.decision == .censor)
        #expect(censor.reasons == [DecisionReason(
            scorer: "nudenet", label: "BUTTOCKS_EXPOSED", score: 0.5, threshold: 0.5, action: .censor)])
        let block = policy.decide(
            tenant: "acme", scores: [HarmScore(scorer: "nudenet", label: "BUTTOCKS_EXPOSED", score: 0.8)],
            availableScorers: all)
        #expect(block.decision == .block)
        #expect(block.reasons.first?.threshold == 0.8)
    }

    @Test func mostSevereReasonComesFirstAndAllAreKept() {
        let outcome = policy.decide(
            tenant: "acme",
            scores: [
                HarmScore(scorer: "nudenet", label: "FEMALE_BREAST_EXPOSED", score: 0.6),
                HarmScore(scorer: "prompt_harm", label: "violence", score: 0.95),
            ],
            availableScorers: all)
        #expect(outcome.decision == .block)
        #expect(outcome.reasons.map(\.action) == [.block, .censor])
        #expect(outcome.reasons.map(\.label) == ["violence", "FEMALE_BREAST_EXPOSED"])
    }

    @Test func theLargestOfSeveralDetectionsCounts() {
        let outcome = policy.decide(
            tenant: "acme",
            scores: [
                HarmScore(scorer: "nudenet", label: "FEMALE_BREAST_EXPOSED", score: 0.3),
                HarmScore(scorer: "nudenet", label: "FEMALE_BREAST_EXPOSED", score: 0.82),
            ],
            availableScorers: all)
        #expect(outcome.decision == .block)
        #expect(outcome.reasons.first?.score == 0.82)
    }

    @Test func knownTenantUsesItsOwnRules() {
        let outcome = policy.decide(
            tenant: "strict", scores: [HarmScore(scorer: "nudenet", label: "FEMALE_BREAST_EXPOSED", score: 0.31)],
            availableScorers: all)
        #expect(outcome.appliedTenant == "strict")
        #expect(outcome.decision == .block)
    }

    @Test func missingScorerTakesTheTenantsAction() {
        let failClosed = policy.decide(tenant: "unknown", scores: [], availableScorers: ["nudenet"])
        #expect(failClosed.decision == .block)
        #expect(failClosed.reasons == [DecisionReason(
            scorer: "prompt_harm", label: "violence", score: nil, threshold: nil, action: .block,
            note: "scorer did not run")])
        let censor = policy.decide(tenant: "strict", scores: [], availableScorers: ["nudenet"])
        #expect(censor.decision == .censor)
        #expect(censor.reasons.map(\.scorer) == ["safety_checker"])
    }

    @Test func scorerThatRanWithoutADetectionMeansZero() {
        let outcome = policy.decide(tenant: "acme", scores: [], availableScorers: all)
        #expect(outcome.decision == .allow)
    }

    @Test func policyFileRoundTripsAndDefaultsToFailClosed() throws {
        let json = #"""
        {"default": {"rules": [{"scorer": "nudenet", "labels": ["ANUS_EXPOSED"], "censor_at": 0.4, "block_at": 0.9}]},
         "tenants": {"kids": {"rules": [{"scorer": "nudenet", "labels": ["ANUS_EXPOSED"], "block_at": 0.2}],
                              "on_missing_scorer": "censor"}}}
        """#
        let policy = try ModerationPolicy.decode(Data(json.utf8), source: "inline")
        #expect(policy.defaultPolicy.onMissingScorer == .block)
        #expect(policy.tenants["kids"]?.onMissingScorer == .censor)
        #expect(policy.defaultPolicy.rules == [PolicyRule(scorer: "nudenet", labels: ["ANUS_EXPOSED"], censorAt: 0.4, blockAt: 0.9)])
    }

    @Test(arguments: [
        (#"{"tenants": {}}"#, "missing key 'default'"),
        (#"{"default": {"rules": [{"scorer": "n", "labels": [], "block_at": 1}]}}"#, "labels is empty"),
        (#"{"default": {"rules": [{"scorer": "n", "labels": ["a"]}]}}"#, "needs censor_at, block_at or both"),
        (#"{"default": {"rules": [{"scorer": "n", "labels": ["a"], "censor_at": 0.9, "block_at": 0.5}]}}"#, "censor_at 0.9 is above block_at 0.5"),
        (#"{"default": {"rules": [{"scorer": "n", "labels": ["a"], "block_at": "high"}]}}"#, "default.rules[0].block_at"),
        (#"{"default": {"rules": [], "on_missing_scorer": "ignore"}}"#, "on_missing_scorer"),
    ])
    func badPolicyFilesAreRefusedWithThePlace(json: String, expected: String) {
        #expect {
            _ = try ModerationPolicy.decode(Data(json.utf8), source: "policy.json")
        } throws: { error in
            let text = String(describing: error)
            return text.contains("policy.json") && text.contains(expected)
        }
    }

    @Test func standardPolicyRestrictedToLoadedScorers() {
        let restricted = ModerationPolicy.standard.restricted(to: ["nudenet", "prompt_harm"])
        #expect(restricted.referencedScorers == ["nudenet", "prompt_harm"])
        let outcome = restricted.decide(tenant: "any", scores: [], availableScorers: ["nudenet", "prompt_harm"])
        #expect(outcome.decision == .allow)
    }
}

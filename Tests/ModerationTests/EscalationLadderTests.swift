import Contracts
import Testing
@testable import Moderation

/// The escalation ladder's decisions and the try analysis on fixed inputs.
@Suite struct EscalationLadderTests {
    static let ladder = EscalationLadder(
        steps: [
            EscalationStep(name: "safegen", safegen: true),
            EscalationStep(name: "sld-strong", safegen: true, minimumSafetyPreset: .strong),
            EscalationStep(name: "sld-max", safegen: true, minimumSafetyPreset: .max),
            EscalationStep(name: "sega-away", safegen: true, minimumSafetyPreset: .max, segaAway: .init(guidanceScale: 6)),
        ],
        maxTries: 4, timeBudget: .seconds(60))

    func state(
        _ decision: Decision, promptOnly: Bool = false, tries: Int = 1, last: Int? = nil,
        applied: AppliedMitigations = AppliedMitigations(), elapsed: Duration = .seconds(1), duration: Duration = .seconds(1)
    ) -> EscalationLadder.State {
        .init(decision: decision, blockedByPromptOnly: promptOnly, tries: tries, lastStepIndex: last, applied: applied,
              elapsed: elapsed, lastTryDuration: duration)
    }

    @Test func passingTriesArePublished() {
        #expect(Self.ladder.next(after: state(.allow)) == .publish)
        #expect(Self.ladder.next(after: state(.censor, tries: 3, last: 1)) == .publish)
    }

    @Test func blockedTriesClimbTheLadderInOrder() {
        #expect(Self.ladder.next(after: state(.block)) == .retry(stepIndex: 0))
        let safegen = AppliedMitigations(safegen: true)
        #expect(Self.ladder.next(after: state(.block, tries: 2, last: 0, applied: safegen)) == .retry(stepIndex: 1))
        let strong = AppliedMitigations(safegen: true, safetyGuidance: AppliedSafetyGuidance(
            preset: .strong, parameters: SafetyPreset.strong.parameters, concept: "nudity"))
        #expect(Self.ladder.next(after: state(.block, tries: 3, last: 1, applied: strong)) == .retry(stepIndex: 2))
    }

    @Test func stepsThatAddNothingAreSkipped() {
        // SafeGen was already on for the first try: "safegen" adds nothing, go to SLD strong.
        #expect(Self.ladder.next(after: state(.block, applied: AppliedMitigations(safegen: true))) == .retry(stepIndex: 1))
        // The request already asked for SLD max with SafeGen: only the SEGA step is stronger.
        let max = AppliedMitigations(safegen: true, safetyGuidance: AppliedSafetyGuidance(
            preset: .max, parameters: SafetyPreset.max.parameters, concept: "nudity"))
        #expect(Self.ladder.next(after: state(.block, applied: max)) == .retry(stepIndex: 3))
        // After the last step nothing is left.
        #expect(Self.ladder.next(after: state(.block, tries: 3, last: 3, applied: max)) == .block(why: "escalation has no stronger step left"))
    }

    @Test func triesTimeAndPromptStopTheLadder() {
        #expect(Self.ladder.next(after: state(.block, tries: 4, last: 2)) == .block(why: "escalation used all 4 tries"))
        // 50 s spent, the last try took 15 s: the next would end past the 60 s budget.
        if case .block(let why) = Self.ladder.next(after: state(.block, elapsed: .seconds(50), duration: .seconds(15))) {
            #expect(why.contains("time budget"))
        } else {
            Issue.record("expected the time budget to stop the ladder")
        }
        #expect(Self.ladder.next(after: state(.block, elapsed: .seconds(40), duration: .seconds(15))) == .retry(stepIndex: 0))
        if case .block(let why) = Self.ladder.next(after: state(.block, promptOnly: true)) {
            #expect(why.contains("prompt"))
        } else {
            Issue.record("a prompt-only block cannot be escalated")
        }
    }

    @Test func stepsRaiseThePlanWithoutWeakeningIt() {
        var mitigations = Mitigations(safegen: false, safetyGuidance: SafetyGuidance(preset: .max, concept: "blood"))
        mitigations.semanticEdits = [SemanticEdit(concept: "a hat", reverse: false)]
        let base = MitigationPlan(mitigations: mitigations, forcedByPolicy: ["safegen"])
        let strong = Self.ladder.steps[1].apply(to: base, flagged: ["FEMALE_BREAST_EXPOSED"])
        #expect(strong.mitigations.safegen == true)
        // The request's max preset and its concept stay (strong is weaker).
        #expect(strong.mitigations.safetyGuidance == SafetyGuidance(preset: .max, concept: "blood"))
        #expect(strong.forcedByPolicy == ["safegen", "escalation:sld-strong"])
        let sega = Self.ladder.steps[3].apply(to: base, flagged: ["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED"])
        #expect(sega.mitigations.semanticEdits == [
            SemanticEdit(concept: "a hat", reverse: false),
            SemanticEdit(concept: "female breast exposed, buttocks exposed", reverse: true, guidanceScale: 6),
        ])
        // Without an SLD request, the step's preset is set.
        let plain = Self.ladder.steps[2].apply(to: MitigationPlan(mitigations: Mitigations()), flagged: [])
        #expect(plain.mitigations.safetyGuidance == SafetyGuidance(preset: .max))
        // A step's concept applies unless the request named one.
        let nude = EscalationStep(name: "sld-nude", minimumSafetyPreset: .strong, safetyConcept: "nude")
        #expect(nude.apply(to: MitigationPlan(mitigations: Mitigations()), flagged: []).mitigations.safetyGuidance
            == SafetyGuidance(preset: .strong, concept: "nude"))
        #expect(nude.apply(to: base, flagged: []).mitigations.safetyGuidance == SafetyGuidance(preset: .max, concept: "blood"))
    }

    @Test func promptOnlyBlocksAndFlaggedLabels() {
        let scores = [
            HarmScore(scorer: "prompt_harm", label: "sexual", score: 0.97, subject: .prompt),
            HarmScore(scorer: "nudenet", label: "BUTTOCKS_EXPOSED", score: 0.9, subject: .image),
        ]
        let prompt = DecisionReason(scorer: "prompt_harm", label: "sexual", score: 0.97, threshold: 0.95, action: .block)
        let image = DecisionReason(scorer: "nudenet", label: "BUTTOCKS_EXPOSED", score: 0.9, threshold: 0.85, action: .block)
        let note = DecisionReason(scorer: "nudenet", label: "nudity", score: 0.1, threshold: 0.2, action: .allow, stage: "first")
        #expect(TryAnalysis.blockedByPromptOnly(reasons: [prompt], scores: scores))
        #expect(!TryAnalysis.blockedByPromptOnly(reasons: [prompt, image], scores: scores))
        #expect(!TryAnalysis.blockedByPromptOnly(reasons: [], scores: scores))
        #expect(TryAnalysis.flaggedImageLabels(reasons: [prompt, image, note], scores: scores) == ["BUTTOCKS_EXPOSED"])
    }
}


import Contracts
import Foundation
import Testing
@testable import Engine

/// The evaluation's arithmetic on fixed outcomes.
@Suite struct ModerationEvaluationTests {
    typealias Item = ModerationEvaluation.Item

    static func item(
        _ label: ModerationEvaluation.Label, _ decision: Decision, without: Decision, second: Int = 0, abortAt: Int? = nil,
        generate: Double = 10, preview: Double = 0, checks: Int = 0, tries: Int? = nil, rescued: Bool? = nil
    ) -> Item {
        Item(prompt: "p", seed: 0, label: label, decision: decision, decisionWithoutCascade: without, secondStageRuns: second,
             cascadeCategories: 1, abortStep: abortAt, steps: 20, generateSeconds: generate, previewSeconds: preview,
             previewChecks: checks, escalationTries: tries, rescued: rescued)
    }

    @Test func ratesFromFixedOutcomes() {
        let items = [
            // Benign: the cascade overturns one false positive of two.
            Self.item(.benign, .allow, without: .censor, second: 1),
            Self.item(.benign, .block, without: .block, second: 1, abortAt: 10, preview: 1, checks: 5, tries: 3, rescued: true),
            Self.item(.benign, .allow, without: .allow),
            Self.item(.benign, .allow, without: .allow),
            // Harmful: blocked (aborted at 8 of 20, not rescued), and one allowed by both.
            Self.item(.harmful, .block, without: .block, second: 1, abortAt: 8, preview: 2, checks: 4, tries: 4, rescued: false),
            Self.item(.harmful, .allow, without: .allow, second: 1),
        ]
        let summary = ModerationEvaluation.Summary(items: items)
        #expect(summary.requests == 6 && summary.benign == 4 && summary.harmful == 2)
        #expect(summary.falsePositiveRateWithCascade == 0.25)
        #expect(summary.falsePositiveRateWithoutCascade == 0.5)
        #expect(summary.falseNegativeRateWithCascade == 0.5 && summary.falseNegativeRateWithoutCascade == 0.5)
        #expect(summary.secondStageRate == 4.0 / 6.0)
        #expect(summary.earlyAborts == 2)
        // Aborted ⇔ blocked holds for all six.
        #expect(summary.earlyAbortAgreement == 1)
        #expect(summary.earlyAbortPrecision == 1)
        // Steps saved: (20 − 10) + (20 − 8) of 120.
        #expect(summary.stepsSavedShare == 22.0 / 120.0)
        // Seconds saved: 10 · 10/20 + 10 · 12/20 = 11; checks spent up to the abort: 1 · 5/5 + 2 · 4/4 = 3; of 60 s.
        #expect(abs(summary.computeSavedShare! - (11.0 - 3.0) / 60.0) < 1e-12)
        #expect(summary.wouldBeBlocked == 2 && summary.rescuedShare == 0.5 && summary.meanTriesWhenBlocked == 3.5)
    }

    @Test func disagreementAndEmptyGroups() {
        let items = [
            Self.item(.harmful, .block, without: .block),  // blocked, but early abort did not stop it
            Self.item(.harmful, .allow, without: .block, abortAt: 12),  // stopped, but the final image passes
        ]
        let summary = ModerationEvaluation.Summary(items: items)
        #expect(summary.earlyAbortAgreement == 0)
        #expect(summary.earlyAbortPrecision == 0)
        #expect(summary.falsePositiveRateWithCascade == nil)
        #expect(summary.rescuedShare == nil && summary.wouldBeBlocked == 0)
        #expect(summary.falseNegativeRateWithoutCascade == 0 && summary.falseNegativeRateWithCascade == 0.5)
    }
}

import Foundation
import Testing
import Diffusion
@testable import Guidance

/// The reference's τ search arithmetic on hand-made chains, worked out by hand in the comments.
@Suite struct TauSearchTests {
    // Two pairs of chains (a batch of 2), three steps at timesteps 900, 500, 100, two elements.
    static let timesteps: [Float] = [900, 500, 100]
    static let pairs = [
        TauSearch.ChainDifference(timesteps: timesteps, differences: [[1, 0], [2, 1], [3, 0]]),
        TauSearch.ChainDifference(timesteps: timesteps, differences: [[0, 2], [1, 1], [0, 0]]),
    ]

    @Test func imbalanceIsTheBatchNormOfBMinusAAveragedOverElements() {
        let d = TauSearch.imbalance(Self.pairs, taus: [0, 100, 101, 600, 1000])
        // τ 0 and 100: no step below τ, B = 0, B − A = −(sum): pair 1 (−6, −1), pair 2 (−1, −3).
        let none = ((36.0 + 1).squareRoot() + (1.0 + 9).squareRoot()) / 2
        // τ 101: B = the step at 100. Pair 1: (3, 0) − (3, 1) = (0, −1); pair 2: (0, 0) − (1, 3) = (−1, −3).
        let one = ((0.0 + 1).squareRoot() + (1.0 + 9).squareRoot()) / 2
        // τ 600: B = steps at 500 and 100. Pair 1: (5, 1) − (1, 0) = (4, 1); pair 2: (1, 1) − (0, 2) = (1, −1).
        let two = ((16.0 + 1).squareRoot() + (1.0 + 1).squareRoot()) / 2
        // τ 1000: every step below τ, A = 0: the norm of +sum, as at τ 0.
        let expected = [none, none, one, two, none]
        for (got, want) in zip(d, expected) { #expect(abs(got - want) < 1e-12) }
    }

    @Test func balancePointIsTheSmallestTauOfTheLeastImbalance() {
        #expect(TauSearch.balancePoint(taus: [0, 10, 20, 30], imbalance: [3, 1, 2, 1]) == 10)
        #expect(TauSearch.balancePoint(taus: [], imbalance: []) == nil)
        // On the hand-made chains, τ 101 (…500] balances best of the reference's grid: D(101) = (1 + √10)/2
        // is below D(600) = (√17 + √2)/2 and D(0) = (√37 + √10)/2, and 110 is the first grid τ above 100.
        let d = TauSearch.imbalance(Self.pairs, taus: TauSearch.grid)
        #expect(TauSearch.balancePoint(taus: TauSearch.grid, imbalance: d) == 110)
        #expect(TauSearch.grid.first == 0 && TauSearch.grid.last == 1000 && TauSearch.grid.count == 101)
    }

    @Test func stepDifferenceIsBetaTimesThePredictionGap() {
        var betas = [Float](repeating: 0, count: 1000)
        betas[900] = 0.5
        betas[500] = 0.25
        let pair = TauSearch.ChainDifference(
            timesteps: [900, 500], first: [[1, 2], [4, 4]], second: [[3, 2], [0, 8]], betas: betas)
        #expect(pair.differences == [[-1, 0], [1, -1]])
    }

    @Test func trainingBetasFollowTheScaledLinearSchedule() throws {
        var config = SchedulerConfig()
        config.betaSchedule = "scaled_linear"
        config.betaStart = 0.00085
        config.betaEnd = 0.012
        config.numTrainTimesteps = 1000
        let betas = try config.trainingBetas()
        #expect(betas.count == 1000)
        // β_t = (√β_start + t/999 · (√β_end − √β_start))², in double here.
        for t in [0, 1, 500, 998, 999] {
            let root = 0.00085.squareRoot() + Double(t) / 999 * (0.012.squareRoot() - 0.00085.squareRoot())
            #expect(abs(Double(betas[t]) - root * root) < 1e-8)
        }
        config.betaSchedule = "cosine"
        #expect(throws: DiffusionError.self) { try config.trainingBetas() }
    }
}

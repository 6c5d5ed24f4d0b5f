import Diffusion
import Synchronization
import Tensor

/// The transition timestep search of attribute switching (Choi et al., AAAI 2024; the
/// reference's `Tau searching.ipynb`): run two reverse chains from the same initial noise, one
/// conditioned on `s0` (the request's prompt) and one on `s1` (the switched prompt), and record
/// at every step `d_t = β_t · (ε(x_t⁰, t, s0) − ε(x_t¹, t, s1))` (guided predictions). For a
/// candidate τ, `A = Σ_{t ≥ τ} d_t` (the steps before the switch) and `B = Σ_{t < τ} d_t`;
/// `D(τ)` is the L2 norm of `B − A` over the batch (one pair of chains per seed), averaged over
/// the latent's elements. The balance point is the τ where `D` is smallest: the differences
/// accumulated before and after the switch weigh the same.
///
/// The reference samples all 1000 timesteps; with fewer steps the sums run over the visited
/// timesteps (each step's `d_t` at its own timestep), a Riemann sample of the full sums whose
/// stride is a constant factor under even spacing, so the minimum stays where it is.
public enum TauSearch {
    /// The reference's candidate grid: τ = 0, 10, …, 1000.
    public static let grid: [Int] = Array(stride(from: 0, through: 1000, by: 10))

    /// One pair of chains: the timestep of every step and its `d_t` (flattened latent).
    public struct ChainDifference: Sendable, Equatable {
        public var timesteps: [Float]
        public var differences: [[Float]]

        public init(timesteps: [Float], differences: [[Float]]) {
            precondition(timesteps.count == differences.count, "one difference per step")
            precondition(Set(differences.map(\.count)).count <= 1, "every step's difference has the latent's size")
            self.timesteps = timesteps
            self.differences = differences
        }

        /// `d_t = β_t · (e0 − e1)` per step from the two chains' predictions and the training
        /// betas (`betas[t]` for timestep t). The chains must visit the same timesteps.
        public init(timesteps: [Float], first: [[Float]], second: [[Float]], betas: [Float]) {
            precondition(first.count == timesteps.count && second.count == timesteps.count, "one prediction per step and chain")
            self.init(timesteps: timesteps, differences: timesteps.indices.map { k in
                let t = Int(timesteps[k].rounded())
                precondition(betas.indices.contains(t), "timestep \(t) outside the training betas")
                let beta = betas[t]
                precondition(first[k].count == second[k].count, "predictions of one step differ in size")
                return zip(first[k], second[k]).map { beta * ($0 - $1) }
            })
        }
    }

    /// `D(τ)` for every τ of `taus` over the batch `pairs` (all visiting the same timesteps).
    public static func imbalance(_ pairs: [ChainDifference], taus: [Int]) -> [Double] {
        guard let first = pairs.first else { return taus.map { _ in 0 } }
        precondition(pairs.allSatisfy { $0.timesteps == first.timesteps }, "the pairs visit different timesteps")
        let size = first.differences.first?.count ?? 0
        guard size > 0 else { return taus.map { _ in 0 } }
        return taus.map { tau in
            // B − A per batch item, then the norm over the batch, averaged over the elements.
            var squares = [Double](repeating: 0, count: size)
            for pair in pairs {
                var difference = [Double](repeating: 0, count: size)
                for (k, step) in pair.differences.enumerated() {
                    let sign: Double = Double(pair.timesteps[k]) < Double(tau) ? 1 : -1
                    for j in 0..<size { difference[j] += sign * Double(step[j]) }
                }
                for j in 0..<size { squares[j] += difference[j] * difference[j] }
            }
            return squares.reduce(0) { $0 + $1.squareRoot() } / Double(size)
        }
    }

    /// The balance point: the smallest τ of `taus` where `imbalance` is least.
    public static func balancePoint(taus: [Int], imbalance: [Double]) -> Int? {
        precondition(taus.count == imbalance.count, "one value per τ")
        guard let least = imbalance.min() else { return nil }
        return zip(taus, imbalance).filter { $0.1 == least }.map(\.0).min()
    }

    /// A guidance term that changes nothing and records the guided noise prediction of every
    /// step (after the terms before it), for the τ search. Use a fresh one per generation.
    public final class Recorder: GuidanceTerm, Sendable {
        private let steps = Mutex<[(timestep: Float, prediction: [Float])]>([])

        public init() {}

        public func apply(_ step: GuidanceStep, to noisePrediction: inout Tensor) throws {
            let values = noisePrediction.withUnsafeBufferPointer { Array($0) }
            steps.withLock { $0.append((step.timestep, values)) }
        }

        /// The timesteps visited and the guided prediction of each step, in order.
        public var recorded: (timesteps: [Float], predictions: [[Float]]) {
            steps.withLock { ($0.map(\.timestep), $0.map(\.prediction)) }
        }
    }
}

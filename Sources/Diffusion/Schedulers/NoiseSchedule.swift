import Foundation
import Tensor

/// What the model predicts (`prediction_type`).
enum PredictionType: String, Sendable {
    case epsilon
    case vPrediction = "v_prediction"
}

/// How inference timesteps are spread over the training range (`timestep_spacing`).
enum TimestepSpacing: String, Sendable {
    case leading, trailing, linspace
}

/// The training noise schedule shared by all schedulers: betas and cumulative alphas, computed
/// in float32 the way diffusers does with torch (`linspace` in float32, `cumprod` accumulated
/// in double and stored as float32).
struct NoiseSchedule: Sendable {
    let trainTimesteps: Int
    /// β_t for t in 0..<trainTimesteps.
    let betas: [Float]
    /// ᾱ_t for t in 0..<trainTimesteps.
    let alphasCumprod: [Float]

    init(_ config: ResolvedSchedulerConfig) throws {
        let count = config.trainTimesteps
        var betas: [Float]
        if let trained = config.trainedBetas {
            guard trained.count == count else {
                throw DiffusionError(.invalidConfig,
                    "scheduler config: trained_betas has \(trained.count) values, num_train_timesteps is \(count)")
            }
            betas = trained.map { Float($0) }
        } else {
            switch config.betaSchedule {
            case "linear":
                betas = Self.torchLinspace(Float(config.betaStart), Float(config.betaEnd), count)
            case "scaled_linear":
                betas = Self.torchLinspace(Float(config.betaStart.squareRoot()), Float(config.betaEnd.squareRoot()), count)
                    .map { $0 * $0 }
            default:
                throw DiffusionError(.invalidConfig,
                    "scheduler config: beta_schedule \"\(config.betaSchedule)\" is not supported (linear, scaled_linear)")
            }
        }
        var cumulative = 1.0
        var alphasCumprod = [Float](repeating: 0, count: count)
        for i in 0..<count {
            cumulative *= Double(1 - betas[i])
            alphasCumprod[i] = Float(cumulative)
        }
        self.trainTimesteps = count
        self.betas = betas
        self.alphasCumprod = alphasCumprod
    }

    /// `((1 - ᾱ) / ᾱ) ** 0.5` per training timestep, in float32 (the Karras-style sigmas).
    var trainSigmas: [Float] {
        alphasCumprod.map { ((1 - $0) / $0).squareRoot() }
    }

    /// `torch.linspace(start, end, count, dtype=float32)`: float32 steps, the first half counted
    /// from `start`, the second half from `end`.
    static func torchLinspace(_ start: Float, _ end: Float, _ count: Int) -> [Float] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (end - start) / Float(count - 1)
        let halfway = count / 2
        return (0..<count).map { i in
            i < halfway ? start + step * Float(i) : end - step * Float(count - i - 1)
        }
    }
}

extension SchedulerConfig {
    /// β_t for every training timestep t in `0..<num_train_timesteps`, as the schedulers compute
    /// them (the file's `trained_betas` or beta schedule; missing fields take the defaults).
    public func trainingBetas() throws -> [Float] {
        try NoiseSchedule(ResolvedSchedulerConfig(self, defaultSpacing: .leading, name: "scheduler config")).betas
    }
}

/// NumPy-compatible helpers for timestep tables (double precision, NumPy's rounding rules).
enum NumPy {
    /// `np.linspace(start, stop, num)` (endpoint included).
    static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        guard num > 1 else { return num == 1 ? [start] : [] }
        let step = (stop - start) / Double(num - 1)
        var values = (0..<num).map { Double($0) * step + start }
        values[num - 1] = stop
        return values
    }

    /// `np.arange(start, stop, step)` for a float step: `start + i·δ` with δ as NumPy derives it.
    static func arange(_ start: Double, _ stop: Double, _ step: Double) -> [Double] {
        let length = Int(((stop - start) / step).rounded(.up))
        guard length > 0 else { return [] }
        let delta = (start + step) - start
        return (0..<length).map { i in i == 0 ? start : start + Double(i) * delta }
    }

    /// `np.round`: half to even.
    static func round(_ value: Double) -> Double { value.rounded(.toNearestOrEven) }

    /// `np.interp(x, arange(count), table)` for x within the table.
    static func interp(_ x: Double, _ table: [Float]) -> Double {
        let last = table.count - 1
        if x <= 0 { return Double(table[0]) }
        if x >= Double(last) { return Double(table[last]) }
        let j = Int(x.rounded(.down))
        if Double(j) == x { return Double(table[j]) }
        let slope = (Double(table[j + 1]) - Double(table[j])) / 1.0
        return slope * (x - Double(j)) + Double(table[j])
    }
}

/// A config with every field decided: file values first, then the target scheduler's defaults.
struct ResolvedSchedulerConfig: Sendable {
    var trainTimesteps: Int
    var betaStart: Double
    var betaEnd: Double
    var betaSchedule: String
    var trainedBetas: [Double]?
    var stepsOffset: Int
    var predictionType: PredictionType
    var spacing: TimestepSpacing

    /// Resolves the fields every scheduler shares; `defaultSpacing` is the target's own default.
    init(_ config: SchedulerConfig, defaultSpacing: TimestepSpacing, name: String) throws {
        trainTimesteps = config.numTrainTimesteps ?? 1000
        betaStart = config.betaStart ?? 0.0001
        betaEnd = config.betaEnd ?? 0.02
        betaSchedule = config.betaSchedule ?? "linear"
        trainedBetas = config.trainedBetas
        stepsOffset = config.stepsOffset ?? 0
        let prediction = config.predictionType ?? "epsilon"
        guard let predictionType = PredictionType(rawValue: prediction) else {
            throw DiffusionError(.invalidConfig,
                "\(name): prediction_type \"\(prediction)\" is not supported (epsilon, v_prediction)")
        }
        self.predictionType = predictionType
        let spacingName = config.timestepSpacing ?? defaultSpacing.rawValue
        guard let spacing = TimestepSpacing(rawValue: spacingName) else {
            throw DiffusionError(.invalidConfig,
                "\(name): timestep_spacing \"\(spacingName)\" is not supported (leading, trailing, linspace)")
        }
        self.spacing = spacing
        guard trainTimesteps > 1 else {
            throw DiffusionError(.invalidConfig, "\(name): num_train_timesteps must be > 1, got \(trainTimesteps)")
        }
        if config.thresholding == true {
            throw DiffusionError(.invalidConfig, "\(name): thresholding is not supported")
        }
        if config.rescaleBetasZeroSnr == true {
            throw DiffusionError(.invalidConfig, "\(name): rescale_betas_zero_snr is not supported")
        }
    }

    /// Checks the requested step count against the training range.
    func validate(steps: Int, name: String) throws {
        guard steps >= 1, steps <= trainTimesteps else {
            throw DiffusionError(.invalidInput,
                "\(name): \(steps) inference steps requested; must be 1...\(trainTimesteps)")
        }
    }
}

/// Elementwise helpers that keep diffusers' float32 operation order.
enum Elementwise {
    static func map(_ a: Tensor, _ body: (Float) -> Float) -> Tensor {
        a.withUnsafeBufferPointer { pa in
            Tensor(shape: a.shape, unsafeUninitialized: { out in
                for i in 0..<pa.count { out[i] = body(pa[i]) }
            })
        }
    }

    static func map(_ a: Tensor, _ b: Tensor, _ body: (Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape, "scheduler: shapes differ: \(a.shape) vs \(b.shape)")
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                Tensor(shape: a.shape, unsafeUninitialized: { out in
                    for i in 0..<pa.count { out[i] = body(pa[i], pb[i]) }
                })
            }
        }
    }

    static func map(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ body: (Float, Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape && a.shape == c.shape,
                     "scheduler: shapes differ: \(a.shape), \(b.shape), \(c.shape)")
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeBufferPointer { pc in
                    Tensor(shape: a.shape, unsafeUninitialized: { out in
                        for i in 0..<pa.count { out[i] = body(pa[i], pb[i], pc[i]) }
                    })
                }
            }
        }
    }
}

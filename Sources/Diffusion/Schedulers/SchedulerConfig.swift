import Foundation

/// The fields of a diffusers `scheduler/scheduler_config.json` that the schedulers read.
///
/// Every field is optional: a missing field takes the default of the scheduler being built
/// (diffusers' `from_config` does the same, even when the file names another class). Unknown
/// fields are ignored.
public struct SchedulerConfig: Codable, Sendable, Equatable {
    /// `_class_name`: the scheduler the model was published with (e.g. `PNDMScheduler`).
    public var className: String?
    public var numTrainTimesteps: Int?
    public var betaStart: Double?
    public var betaEnd: Double?
    /// `linear` or `scaled_linear`.
    public var betaSchedule: String?
    public var trainedBetas: [Double]?
    public var stepsOffset: Int?
    public var setAlphaToOne: Bool?
    /// `leading`, `trailing` or `linspace`.
    public var timestepSpacing: String?
    /// `epsilon` or `v_prediction`.
    public var predictionType: String?
    public var clipSample: Bool?
    public var clipSampleRange: Double?
    public var skipPrkSteps: Bool?
    public var useKarrasSigmas: Bool?
    public var interpolationType: String?
    public var finalSigmasType: String?
    public var timestepType: String?
    public var solverOrder: Int?
    public var algorithmType: String?
    public var solverType: String?
    public var lowerOrderFinal: Bool?
    public var eulerAtFinal: Bool?
    public var lambdaMinClipped: Double?
    public var thresholding: Bool?
    public var rescaleBetasZeroSnr: Bool?
    public var useExponentialSigmas: Bool?
    public var useBetaSigmas: Bool?
    public var useLuLambdas: Bool?
    public var varianceType: String?
    /// LCM: the distillation schedule's step count the inference timesteps are taken from.
    public var originalInferenceSteps: Int?
    /// LCM: the timestep factor in the consistency boundary condition (c_skip, c_out).
    public var timestepScaling: Double?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case className = "_class_name"
        case numTrainTimesteps = "num_train_timesteps"
        case betaStart = "beta_start"
        case betaEnd = "beta_end"
        case betaSchedule = "beta_schedule"
        case trainedBetas = "trained_betas"
        case stepsOffset = "steps_offset"
        case setAlphaToOne = "set_alpha_to_one"
        case timestepSpacing = "timestep_spacing"
        case predictionType = "prediction_type"
        case clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range"
        case skipPrkSteps = "skip_prk_steps"
        case useKarrasSigmas = "use_karras_sigmas"
        case interpolationType = "interpolation_type"
        case finalSigmasType = "final_sigmas_type"
        case timestepType = "timestep_type"
        case solverOrder = "solver_order"
        case algorithmType = "algorithm_type"
        case solverType = "solver_type"
        case lowerOrderFinal = "lower_order_final"
        case eulerAtFinal = "euler_at_final"
        case lambdaMinClipped = "lambda_min_clipped"
        case thresholding
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case useLuLambdas = "use_lu_lambdas"
        case varianceType = "variance_type"
        case originalInferenceSteps = "original_inference_steps"
        case timestepScaling = "timestep_scaling"
    }

    /// Decodes a config from JSON bytes; `source` names the file in errors.
    public static func decode(_ data: Data, source: String) throws -> SchedulerConfig {
        do {
            return try JSONDecoder().decode(SchedulerConfig.self, from: data)
        } catch {
            throw DiffusionError(.invalidConfig, "\(source): not a valid scheduler config (\(error))")
        }
    }

    /// Loads `scheduler_config.json` from a file.
    public static func load(from url: URL) throws -> SchedulerConfig {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DiffusionError(.io, "\(url.path): cannot read scheduler config (\(error.localizedDescription))")
        }
        return try decode(data, source: url.path)
    }

    /// The config Stable Diffusion v1.4/v1.5 ship (`PNDMScheduler`, scaled-linear betas).
    public static let stableDiffusionV1: SchedulerConfig = {
        var config = SchedulerConfig()
        config.className = "PNDMScheduler"
        config.betaStart = 0.00085
        config.betaEnd = 0.012
        config.betaSchedule = "scaled_linear"
        config.numTrainTimesteps = 1000
        config.setAlphaToOne = false
        config.skipPrkSteps = true
        config.stepsOffset = 1
        config.clipSample = false
        return config
    }()
}

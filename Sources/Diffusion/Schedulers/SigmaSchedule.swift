import Foundation

/// Sigma tables for the Karras-style schedulers (Euler, Euler ancestral, DPM-Solver), built with
/// diffusers' NumPy arithmetic: train sigmas in float32, interpolation in double, the final table
/// stored as float32.
enum SigmaSchedule {
    /// Karras et al. (2022) spacing between `sigmaMax` and `sigmaMin` with ρ = 7
    /// (`_convert_to_karras`), in double.
    static func karras(sigmaMin: Double, sigmaMax: Double, count: Int) -> [Double] {
        let rho = 7.0
        let minInverse = pow(sigmaMin, 1 / rho)
        let maxInverse = pow(sigmaMax, 1 / rho)
        return NumPy.linspace(0, 1, count).map { ramp in pow(maxInverse + ramp * (minInverse - maxInverse), rho) }
    }

    /// The fractional training timestep whose log-sigma matches `sigma` (`_sigma_to_t`).
    static func timestep(forSigma sigma: Double, logSigmas: [Float]) -> Double {
        let logSigma = Foundation.log(max(sigma, 1e-10))
        // Last index whose log-sigma is at or below ours (0 when none), capped so a pair exists.
        var low = 0
        for (i, value) in logSigmas.enumerated() where logSigma - Double(value) >= 0 { low = i }
        low = min(low, logSigmas.count - 2)
        let lowValue = Double(logSigmas[low]), highValue = Double(logSigmas[low + 1])
        var w = (lowValue - logSigma) / (lowValue - highValue)
        w = min(max(w, 0), 1)
        return (1 - w) * Double(low) + w * Double(low + 1)
    }

    /// Float32 natural logs of the train sigmas (`np.log` on a float32 array).
    static func logSigmas(_ trainSigmas: [Float]) -> [Float] {
        trainSigmas.map { Foundation.log($0) }
    }
}

/// The timestep/sigma table the Euler schedulers share (`set_timesteps` of
/// `EulerDiscreteScheduler` / `EulerAncestralDiscreteScheduler`).
struct EulerTable: Sendable {
    let timesteps: [Float]
    /// One sigma per step plus a final 0.
    let sigmas: [Float]
    let initNoiseSigma: Float

    init(_ resolved: ResolvedSchedulerConfig, steps: Int, karras: Bool, name: String) throws {
        let train = resolved.trainTimesteps
        var times: [Double]
        switch resolved.spacing {
        case .linspace:
            times = NumPy.linspace(0, Double(train - 1), steps).reversed().map { Double(Float($0)) }
        case .leading:
            let ratio = train / steps
            times = (0..<steps).reversed().map { Double($0 * ratio) + Double(resolved.stepsOffset) }
        case .trailing:
            times = NumPy.arange(Double(train), 0, -Double(train) / Double(steps)).map { NumPy.round($0) - 1 }
        }
        let schedule = try NoiseSchedule(resolved)
        let trainSigmas = schedule.trainSigmas
        guard times.allSatisfy({ $0 >= 0 && $0 <= Double(train - 1) }) else {
            throw DiffusionError(.invalidConfig, "\(name): steps_offset \(resolved.stepsOffset) puts timesteps outside 0..<\(train)")
        }
        var sigmas = times.map { NumPy.interp($0, trainSigmas) }
        if karras {
            sigmas = SigmaSchedule.karras(sigmaMin: sigmas[sigmas.count - 1], sigmaMax: sigmas[0], count: steps)
            let logSigmas = SigmaSchedule.logSigmas(trainSigmas)
            times = sigmas.map { SigmaSchedule.timestep(forSigma: $0, logSigmas: logSigmas) }
        }
        self.timesteps = times.map { Float($0) }
        self.sigmas = sigmas.map { Float($0) } + [0]
        let maxSigma = self.sigmas.max() ?? 0
        switch resolved.spacing {
        case .linspace, .trailing: initNoiseSigma = maxSigma
        case .leading: initNoiseSigma = (maxSigma * maxSigma + 1).squareRoot()
        }
    }

    /// `sample / sqrt(σ² + 1)`.
    func scale(_ sample: Float, stepIndex: Int) -> Float {
        let sigma = sigmas[stepIndex]
        return sample / (sigma * sigma + 1).squareRoot()
    }
}

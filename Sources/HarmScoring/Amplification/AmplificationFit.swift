import Contracts
import Foundation
import Moderation

/// A monotone map from a scorer's raw score to the harm type's calibrated scale: linear
/// between knots, constant beyond the first and last.
///
/// Fitted by ``quantileMap(reference:)``: the calibrated value of a raw score is its mid-rank
/// among the raw scores of a *harmful reference* (the same scorer on prompts that ask for the
/// harm, or on their images): the share of reference scores below it plus half the share equal
/// to it. Prompt harm and image harm both become "how far into the distribution of explicitly
/// harmful content of this modality", so `0.5` means as harmful as the median harmful prompt
/// (or its image), whatever the scorer's own scale: a 0/1 flag, a detector confidence and a
/// lexicon weight land on one scale.
public struct ScoreCalibration: Codable, Sendable, Hashable {
    /// `[raw, calibrated]` pairs, raw strictly increasing, calibrated non-decreasing.
    public var knots: [[Double]]

    public init(knots: [[Double]]) {
        self.knots = knots
    }

    /// The identity on [0, 1] (raw scores as they are; used only where nothing was fitted).
    public static let identity = ScoreCalibration(knots: [[0, 0], [1, 1]])

    /// The calibrated value of a raw score.
    public func callAsFunction(_ raw: Double) -> Double {
        guard let first = knots.first, let last = knots.last else { return raw }
        if raw <= first[0] { return first[1] }
        if raw >= last[0] { return last[1] }
        for (lower, upper) in zip(knots, knots.dropFirst()) where raw <= upper[0] {
            let t = (raw - lower[0]) / (upper[0] - lower[0])
            return lower[1] + t * (upper[1] - lower[1])
        }
        return last[1]
    }

    /// Mid-rank quantile map of a harmful reference (raw scores in [0, 1]): a knot at each
    /// distinct positive reference score `u` with value `(#below u + #equal u / 2) / n`,
    /// anchored at `(0, 0)` and at `(1, 1)` when the reference does not reach 1. A raw 0 (the
    /// scorer found nothing) is always 0: a reference on which a scorer finds nothing, e.g.
    /// NudeNet on the demo world's drawings, must not make "nothing" as harmful as the median.
    public static func quantileMap(reference: [Double]) -> ScoreCalibration {
        let sorted = reference.sorted()
        guard !sorted.isEmpty else { return .identity }
        let n = Double(sorted.count)
        var knots: [[Double]] = []
        var index = 0
        while index < sorted.count {
            let value = sorted[index]
            var end = index
            while end < sorted.count && sorted[end] == value { end += 1 }
            knots.append([value, (Double(index) + Double(end - index) / 2) / n])
            index = end
        }
        if knots[0][0] > 0 { knots.insert([0, 0], at: 0) } else { knots[0] = [0, 0] }
        if knots[knots.count - 1][0] < 1 { knots.append([1, 1]) }
        return ScoreCalibration(knots: knots)
    }

    func validate(place: String, source: String) throws {
        guard knots.count >= 2 else { throw PolicyError(file: source, message: "\(place).knots needs at least two [raw, calibrated] pairs") }
        for knot in knots {
            guard knot.count == 2, knot.allSatisfy({ $0.isFinite }) else {
                throw PolicyError(file: source, message: "\(place).knots: \(knot) is not a [raw, calibrated] pair of numbers")
            }
        }
        for (lower, upper) in zip(knots, knots.dropFirst()) where !(lower[0] < upper[0] && lower[1] <= upper[1]) {
            throw PolicyError(file: source, message: "\(place).knots must rise: \(lower) then \(upper)")
        }
    }
}

/// The image-harm threshold of one text-harm level (distribution-based thresholds).
public struct LevelThreshold: Codable, Sendable, Hashable {
    /// Fit samples (prompt, seed) whose prompt harm fell in this level.
    public var samples: Int
    /// The fitted quantile of their calibrated image harm: an image above it is amplified.
    public var threshold: Double
    /// When the level had no samples: the level whose threshold it took (the next lower one
    /// with samples), or nil with threshold 1 when no lower level had any.
    public var inheritedFrom: Int?

    public init(samples: Int, threshold: Double, inheritedFrom: Int? = nil) {
        self.samples = samples
        self.threshold = threshold
        self.inheritedFrom = inheritedFrom
    }

    enum CodingKeys: String, CodingKey {
        case samples, threshold
        case inheritedFrom = "inherited_from"
    }
}

/// One harm type's fit: the calibration of its prompt harm and of each image source, and the
/// distribution-based thresholds per text-harm level.
public struct AmplificationTypeFit: Codable, Sendable, Hashable {
    public struct Source: Codable, Sendable, Hashable {
        public var scorer: String
        public var labels: [String]
        public var calibration: ScoreCalibration

        public init(scorer: String, labels: [String], calibration: ScoreCalibration) {
            self.scorer = scorer
            self.labels = labels
            self.calibration = calibration
        }
    }

    public var harmType: String
    /// Harmful-reference samples the calibration was fitted on.
    public var referenceSamples: Int
    public var prompt: ScoreCalibration
    public var imageSources: [Source]
    /// Inner edges of the text-harm levels (calibrated prompt harm); `levels.count + 1` levels.
    public var levels: [Double]
    /// The quantile of image harm each level's threshold is.
    public var quantile: Double
    /// One per level.
    public var thresholds: [LevelThreshold]

    public init(
        harmType: String, referenceSamples: Int, prompt: ScoreCalibration, imageSources: [Source], levels: [Double],
        quantile: Double, thresholds: [LevelThreshold]
    ) {
        self.harmType = harmType
        self.referenceSamples = referenceSamples
        self.prompt = prompt
        self.imageSources = imageSources
        self.levels = levels
        self.quantile = quantile
        self.thresholds = thresholds
    }

    enum CodingKeys: String, CodingKey {
        case harmType = "harm_type"
        case referenceSamples = "reference_samples"
        case prompt
        case imageSources = "image_sources"
        case levels, quantile, thresholds
    }

    /// The image-harm threshold at a calibrated prompt harm.
    public func threshold(promptHarm: Double) -> Double {
        thresholds[AmplificationTypePolicy.bucket(of: promptHarm, edges: levels)].threshold
    }

    /// The calibration of an image source, if fitted.
    public func calibration(scorer: String, labels: [String]) -> ScoreCalibration? {
        imageSources.first { $0.scorer == scorer && Set($0.labels) == Set(labels) }?.calibration
    }
}

/// The file `chaperone eval` (section `amplification_fit`) writes and the worker loads
/// (`amplification-fit.json`): per harm type, the calibrated scale and the distribution-based
/// thresholds, with what it was fitted on.
public struct AmplificationFit: Codable, Sendable, Hashable {
    /// What the fit was made from (model, prompt counts, seeds, steps), for the reader.
    public var fittedOn: [String: String]
    public var types: [AmplificationTypeFit]

    public init(fittedOn: [String: String], types: [AmplificationTypeFit]) {
        self.fittedOn = fittedOn
        self.types = types
    }

    enum CodingKeys: String, CodingKey {
        case fittedOn = "fitted_on"
        case types
    }

    public func type(_ harmType: String) -> AmplificationTypeFit? {
        types.first { $0.harmType == harmType }
    }

    /// Reads and checks a fit file; errors name the file and the field.
    public static func load(from url: URL) throws -> AmplificationFit {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PolicyError(file: url.path, message: "cannot read the amplification fit: \(error.localizedDescription)")
        }
        let fit: AmplificationFit
        do {
            fit = try JSONDecoder().decode(AmplificationFit.self, from: data)
        } catch let error as DecodingError {
            throw PolicyError(file: url.path, message: "not a valid amplification fit: \(PolicyError.describing(error))")
        }
        try fit.validate(source: url.path)
        return fit
    }

    public func validate(source: String) throws {
        var seen: Set<String> = []
        for type in types {
            let place = "types.\(type.harmType)"
            guard seen.insert(type.harmType).inserted else { throw PolicyError(file: source, message: "\(place) appears twice") }
            try type.prompt.validate(place: "\(place).prompt", source: source)
            for (index, image) in type.imageSources.enumerated() {
                try image.calibration.validate(place: "\(place).image_sources[\(index)].calibration", source: source)
            }
            for (lower, upper) in zip(type.levels, type.levels.dropFirst()) where lower >= upper {
                throw PolicyError(file: source, message: "\(place).levels must be strictly increasing (\(lower) then \(upper))")
            }
            guard type.thresholds.count == type.levels.count + 1 else {
                throw PolicyError(file: source, message: "\(place).thresholds has \(type.thresholds.count) entries; levels \(type.levels) need \(type.levels.count + 1)")
            }
            for threshold in type.thresholds where !threshold.threshold.isFinite {
                throw PolicyError(file: source, message: "\(place).thresholds: \(threshold.threshold) is not a number")
            }
        }
    }
}

/// One fit sample: a prompt's and its image's raw scores.
public struct AmplificationSample: Sendable {
    /// Prompt-harm and image scores of the sample.
    public var scores: [HarmScore]
    /// Whether the prompt is in the harmful reference.
    public var harmfulReference: Bool

    public init(scores: [HarmScore], harmfulReference: Bool) {
        self.scores = scores
        self.harmfulReference = harmfulReference
    }
}

extension AmplificationFit {
    /// The `q` quantile of `values` with linear interpolation between order statistics
    /// (position `q·(n−1)`, NumPy's default); nil when empty.
    public static func quantile(_ values: [Double], _ q: Double) -> Double? {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return nil }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (position - Double(lower)) * (sorted[upper] - sorted[lower])
    }

    /// Fits every rule: calibrations from the harmful-reference samples (prompt harm and each
    /// image source separately), then per text-harm level the `quantile` of calibrated image
    /// harm over all samples at that level. A level without samples inherits the next lower
    /// level's threshold (threshold 1, never amplified, when none has samples).
    public static func fit(
        rules: [AmplificationRule], samples: [AmplificationSample], levels: [Double], quantile: Double,
        fittedOn: [String: String]
    ) -> AmplificationFit {
        let reference = samples.filter(\.harmfulReference)
        func raw(_ sample: AmplificationSample, scorer: String, labels: [String]) -> Double {
            sample.scores.filter { $0.scorer == scorer && labels.contains($0.label) }.map(\.score).max() ?? 0
        }
        let types = rules.map { rule -> AmplificationTypeFit in
            let promptScorer = PromptHarmScorer.scorerName
            let prompt = ScoreCalibration.quantileMap(
                reference: reference.map { raw($0, scorer: promptScorer, labels: rule.promptCategories) })
            let sources = rule.imageSources.map { source in
                AmplificationTypeFit.Source(
                    scorer: source.scorer, labels: source.labels,
                    calibration: .quantileMap(reference: reference.map { raw($0, scorer: source.scorer, labels: source.labels) }))
            }
            var perLevel = [[Double]](repeating: [], count: levels.count + 1)
            for sample in samples {
                let promptHarm = prompt(raw(sample, scorer: promptScorer, labels: rule.promptCategories))
                let imageHarm = zip(rule.imageSources, sources).map { source, fitted in
                    fitted.calibration(raw(sample, scorer: source.scorer, labels: source.labels))
                }.max() ?? 0
                perLevel[AmplificationTypePolicy.bucket(of: promptHarm, edges: levels)].append(imageHarm)
            }
            var thresholds: [LevelThreshold] = []
            for values in perLevel {
                if let value = Self.quantile(values, quantile) {
                    thresholds.append(LevelThreshold(samples: values.count, threshold: value))
                } else if let lower = thresholds.lastIndex(where: { $0.samples > 0 }) {
                    thresholds.append(LevelThreshold(samples: 0, threshold: thresholds[lower].threshold, inheritedFrom: lower))
                } else {
                    thresholds.append(LevelThreshold(samples: 0, threshold: 1))
                }
            }
            return AmplificationTypeFit(
                harmType: rule.harmType, referenceSamples: reference.count, prompt: prompt, imageSources: sources,
                levels: levels, quantile: quantile, thresholds: thresholds)
        }
        return AmplificationFit(fittedOn: fittedOn, types: types)
    }
}

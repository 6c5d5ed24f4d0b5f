import Contracts
import Diffusion
import Foundation
import Tensor

/// The Stable Diffusion safety checker (CompVis), equal to diffusers'
/// `StableDiffusionSafetyChecker`: a CLIP vision tower and projection give an image embedding,
/// compared by cosine similarity with 17 concept and 3 "special care" embeddings against
/// per-concept thresholds. A special-care hit lowers every concept threshold by 0.01. Scores are
/// rounded to three decimals as the reference does; an image is flagged when any concept score
/// is above zero.
public struct StableDiffusionSafetyChecker: Sendable {
    /// Scorer name in ``HarmScore/scorer``.
    public static let scorerName = "safety_checker"

    /// The vision tower, projection and image processor.
    public let embedder: CLIPImageEmbedder
    public var vision: CLIPVisionModel { embedder.vision }
    public var preprocessor: CLIPImagePreprocessor { embedder.preprocessor }
    let conceptEmbeds: Tensor          // [17, P]
    let conceptThresholds: [Float]     // [17]
    let specialEmbeds: Tensor          // [3, P]
    let specialThresholds: [Float]     // [3]

    /// The checker's verdict on one image.
    public struct Verdict: Sendable, Equatable {
        /// Per concept, `round(cos − threshold + adjustment, 3)`.
        public var conceptScores: [Double]
        /// Per special-care concept, `round(cos − threshold + adjustment, 3)`.
        public var specialScores: [Double]
        /// Whether a special-care concept fired (thresholds then drop by 0.01).
        public var specialCare: Bool
        /// The reference decision: any concept score above zero.
        public var nsfw: Bool
        /// The largest concept score before rounding: a continuous margin (positive = flagged side).
        public var maxConceptMargin: Double

        /// As ``HarmScore`` values: `nsfw` (1 or 0), `concept_margin`, `special_care` (1 or 0).
        public var harmScores: [HarmScore] {
            [
                HarmScore(scorer: StableDiffusionSafetyChecker.scorerName, label: "nsfw", score: nsfw ? 1 : 0),
                HarmScore(scorer: StableDiffusionSafetyChecker.scorerName, label: "concept_margin", score: maxConceptMargin),
                HarmScore(scorer: StableDiffusionSafetyChecker.scorerName, label: "special_care", score: specialCare ? 1 : 0),
            ]
        }
    }

    /// Loads a diffusers `safety_checker/` folder (config.json + safetensors) and the
    /// `feature_extractor/preprocessor_config.json` beside it (defaults when absent).
    public init(folder: URL, preprocessorConfig: URL? = nil) throws {
        let contents = try CLIPImageEmbedder.read(folder: folder, preprocessorConfig: preprocessorConfig)
        try self.init(config: contents.config, projectionDim: contents.projectionDim, weights: contents.weights,
                      preprocessor: contents.preprocessor, source: folder.path)
    }

    /// Builds the checker from weights named as transformers saves them (see
    /// ``CLIPImageEmbedder/init(config:projectionDim:weights:preprocessor:source:)``) plus the
    /// concept and special-care embeddings and thresholds.
    public init(config: CLIPVisionConfig, projectionDim: Int, weights: WeightStore,
                preprocessor: CLIPImagePreprocessor, source: String) throws {
        let embedder = try CLIPImageEmbedder(
            config: config, projectionDim: projectionDim, weights: weights, preprocessor: preprocessor, source: source)
        try self.init(embedder: embedder, weights: weights, source: source)
    }

    init(embedder: CLIPImageEmbedder, weights: WeightStore, source: String) throws {
        let p = embedder.projectionDim
        do {
            conceptEmbeds = try weights.tensor("concept_embeds", shape: [17, p])
            specialEmbeds = try weights.tensor("special_care_embeds", shape: [3, p])
            conceptThresholds = try weights.tensor("concept_embeds_weights", shape: [17]).scalars
            specialThresholds = try weights.tensor("special_care_embeds_weights", shape: [3]).scalars
        } catch {
            throw HarmScoringError(.modelLoad, "\(source): \(error)")
        }
        self.embedder = embedder
    }

    /// The projected image embedding [B, P] of pixel values [B, 3, S, S].
    public func imageEmbeds(_ pixelValues: Tensor) throws -> Tensor {
        try embedder.imageEmbeds(pixelValues)
    }

    /// Cosine similarities [B, K] between image embeddings [B, P] and `embeds` [K, P].
    static func cosine(_ images: Tensor, _ embeds: Tensor) -> Tensor {
        CLIPImageEmbedder.cosine(images, embeds)
    }

    /// Verdicts for pixel values [B, 3, S, S].
    public func check(pixelValues: Tensor) throws -> [Verdict] {
        let embeds = try imageEmbeds(pixelValues)
        return verdicts(conceptCosine: Self.cosine(embeds, conceptEmbeds), specialCosine: Self.cosine(embeds, specialEmbeds))
    }

    /// The verdict for one 8-bit RGB image (preprocessed as the checkpoint's image processor says).
    public func check(rgb: [UInt8], width: Int, height: Int) throws -> Verdict {
        try check(pixelValues: preprocessor.pixelValues(rgb: rgb, width: width, height: height))[0]
    }

    func verdicts(conceptCosine: Tensor, specialCosine: Tensor) -> [Verdict] {
        let batch = conceptCosine.shape[0]
        let concept = conceptCosine.scalars, special = specialCosine.scalars
        return (0..<batch).map { i in
            var adjustment = 0.0
            var specialScores: [Double] = []
            var specialCare = false
            for j in 0..<3 {
                let score = Self.round3(Double(special[i * 3 + j]) - Double(specialThresholds[j]) + adjustment)
                specialScores.append(score)
                if score > 0 {
                    specialCare = true
                    adjustment = 0.01
                }
            }
            var conceptScores: [Double] = []
            var margin = -Double.infinity
            for j in 0..<17 {
                let raw = Double(concept[i * 17 + j]) - Double(conceptThresholds[j]) + adjustment
                margin = max(margin, raw)
                conceptScores.append(Self.round3(raw))
            }
            return Verdict(
                conceptScores: conceptScores, specialScores: specialScores, specialCare: specialCare,
                nsfw: conceptScores.contains { $0 > 0 }, maxConceptMargin: margin)
        }
    }

    /// Python's `round(x, 3)` for the values the checker produces (half to even at ties).
    static func round3(_ x: Double) -> Double {
        (x * 1000).rounded(.toNearestOrEven) / 1000
    }
}

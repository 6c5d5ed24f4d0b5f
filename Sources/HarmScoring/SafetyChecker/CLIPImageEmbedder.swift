import Diffusion
import Foundation
import Tensor

/// A CLIP image embedding as transformers computes it: the image processor, the vision tower's
/// pooled output and the visual projection (`CLIPVisionModelWithProjection.image_embeds`). The
/// SD safety checker and the Q16 classifier both start from it.
public struct CLIPImageEmbedder: Sendable {
    public let vision: CLIPVisionModel
    public let preprocessor: CLIPImagePreprocessor
    let projection: Tensor  // [P, D]

    /// The embedding size P.
    public var projectionDim: Int { projection.shape[0] }

    /// Builds the embedder from weights named as transformers saves them: the vision tower under
    /// `vision_model.vision_model.` (the SD safety checker's published checkpoints) or
    /// `vision_model.` (`CLIPVisionModelWithProjection`, and the safety checker from transformers 5),
    /// the projection as `visual_projection.weight`.
    public init(config: CLIPVisionConfig, projectionDim: Int, weights: WeightStore,
                preprocessor: CLIPImagePreprocessor, source: String) throws {
        guard preprocessor.cropHeight == config.imageSize, preprocessor.cropWidth == config.imageSize else {
            throw HarmScoringError(.modelLoad, "\(source): image processor crops \(preprocessor.cropWidth)×\(preprocessor.cropHeight), the vision model takes \(config.imageSize)")
        }
        let prefix = weights.contains("vision_model.vision_model.embeddings.class_embedding")
            ? "vision_model.vision_model." : "vision_model."
        do {
            vision = try CLIPVisionModel(config: config, weights: weights, prefix: prefix, source: source)
            projection = try weights.tensor("visual_projection.weight", shape: [projectionDim, config.hiddenSize])
        } catch {
            throw HarmScoringError(.modelLoad, "\(source): \(error)")
        }
        self.preprocessor = preprocessor
    }

    /// Loads a folder holding a CLIP vision tower with projection: a diffusers `safety_checker/`
    /// (a `CLIPConfig` with `vision_config` and `projection_dim`) or a transformers
    /// `CLIPVisionModelWithProjection` (its `config.json` is the vision config with
    /// `projection_dim`), with `model.safetensors` (or an index). The image processor comes from
    /// `preprocessorConfig`, else `preprocessor_config.json` in the folder, else
    /// `../feature_extractor/preprocessor_config.json` (the diffusers layout), else CLIP's defaults.
    public static func load(folder: URL, preprocessorConfig: URL? = nil) throws -> CLIPImageEmbedder {
        let contents = try read(folder: folder, preprocessorConfig: preprocessorConfig)
        return try CLIPImageEmbedder(
            config: contents.config, projectionDim: contents.projectionDim, weights: contents.weights,
            preprocessor: contents.preprocessor, source: folder.path)
    }

    /// What a vision-tower folder holds (see ``load(folder:preprocessorConfig:)``); the safety
    /// checker reads its further tensors from the same weights.
    struct FolderContents {
        var config: CLIPVisionConfig
        var projectionDim: Int
        var weights: WeightStore
        var preprocessor: CLIPImagePreprocessor
    }

    static func read(folder: URL, preprocessorConfig: URL?) throws -> FolderContents {
        let configURL = folder.appendingPathComponent("config.json")
        let visionConfig: CLIPVisionConfig
        let projectionDim: Int
        do {
            struct File: Decodable {
                var visionConfig: CLIPVisionConfig?
                var projectionDim: Int?
                enum CodingKeys: String, CodingKey {
                    case visionConfig = "vision_config"
                    case projectionDim = "projection_dim"
                }
            }
            let data = try Data(contentsOf: configURL)
            let file = try JSONDecoder().decode(File.self, from: data)
            visionConfig = try file.visionConfig ?? JSONDecoder().decode(CLIPVisionConfig.self, from: data)
            // transformers' default projection_dim (CLIPConfig and CLIPVisionConfig alike).
            projectionDim = file.projectionDim ?? 512
        } catch {
            throw HarmScoringError(.modelLoad, "\(configURL.path): cannot read the CLIP vision config: \(error)")
        }
        let weights: WeightStore
        do {
            weights = try WeightStore.load(folder: folder)
        } catch {
            throw HarmScoringError(.modelLoad, "\(folder.path): \(error)")
        }
        let candidates = [
            preprocessorConfig,
            folder.appendingPathComponent("preprocessor_config.json"),
            folder.deletingLastPathComponent().appendingPathComponent("feature_extractor/preprocessor_config.json"),
        ].compactMap { $0 }
        let preprocessor = try candidates.first { FileManager.default.fileExists(atPath: $0.path) }
            .map { try CLIPImagePreprocessor.load(from: $0) } ?? CLIPImagePreprocessor()
        return FolderContents(config: visionConfig, projectionDim: projectionDim, weights: weights, preprocessor: preprocessor)
    }

    /// The projected image embeddings [B, P] of pixel values [B, 3, S, S].
    public func imageEmbeds(_ pixelValues: Tensor) throws -> Tensor {
        linear(try vision.pooledOutput(pixelValues), weight: projection)
    }

    /// The embedding [1, P] of one 8-bit RGB image, preprocessed as the processor config says.
    public func imageEmbeds(rgb: [UInt8], width: Int, height: Int) throws -> Tensor {
        try imageEmbeds(preprocessor.pixelValues(rgb: rgb, width: width, height: height))
    }

    /// Cosine similarities [B, K] between rows of `a` [B, P] and rows of `b` [K, P], each row
    /// divided by `max(‖row‖, 1e-12)` as `torch.nn.functional.normalize` does.
    public static func cosine(_ a: Tensor, _ b: Tensor) -> Tensor {
        func normalized(_ x: Tensor) -> Tensor {
            let norms = (x * x).sum(axis: 1, keepDims: true).sqrt().clamped(min: 1e-12)
            return x / norms
        }
        return matmul(normalized(a), normalized(b), transposeB: true)
    }
}

import Foundation
import Tensor

/// Turns predicted clean latents (x0, as the UNet sees them, i.e. scaled by the VAE's scaling
/// factor) into a small RGB image for early-abort scoring.
///
/// A model folder chooses its preview by what it carries, in this order:
/// 1. `vae_tiny/` (a diffusers `AutoencoderTiny`, TAESD): `.tiny`, an image at full size close
///    to the VAE's for a small fraction of its cost;
/// 2. `latent_preview.json` (written by `ops/reference/fit_latent_preview.py`): `.linear`, each
///    latent pixel becomes one RGB pixel, `rgb = W · z + b` in [0, 1], and the image is enlarged
///    by pixel repetition to the output size (cheapest, coarsest);
/// 3. neither: `.vae`, the full VAE (exact, but as costly as the final decode).
public enum LatentPreview: Sendable {
    case tiny(AutoencoderTiny)
    case linear(LinearLatentMap)
    case vae(StableDiffusionPipeline)

    /// The file name looked for in a model folder.
    public static let fileName = "latent_preview.json"

    /// The tiny decoder of `folder` when it has one, else its linear map, else the VAE of
    /// `pipeline`.
    public static func load(folder: URL, pipeline: StableDiffusionPipeline) throws -> LatentPreview {
        if let tiny = try pipeline.loadTinyDecoder(folder: folder) { return .tiny(tiny) }
        let url = folder.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return .vae(pipeline) }
        return .linear(try LinearLatentMap.load(from: url, latentChannels: pipeline.noisePredictor.latentChannels))
    }

    /// Short name for the audit trail and benchmarks: `tiny`, `linear` or `vae`.
    public var kind: String {
        switch self {
        case .tiny: "tiny"
        case .linear: "linear"
        case .vae: "vae"
        }
    }

    /// 8-bit RGB of `width` × `height` from latents `[1, C, h, w]`.
    public func decode(_ latents: Tensor, width: Int, height: Int) throws -> PixelBuffer {
        let image: PixelBuffer
        switch self {
        case .linear(let map):
            return try map.decode(latents, width: width, height: height)
        case .tiny(let decoder):
            image = try decoder.decodeImage(latents).rgb()
        case .vae(let pipeline):
            image = try pipeline.decodeLatents(latents).rgb()
        }
        guard image.width == width, image.height == height else {
            throw DiffusionError(.invalidInput, "latent preview (\(kind)): decoded \(image.width)x\(image.height), expected \(width)x\(height)")
        }
        return image
    }
}

/// A per-pixel linear map from latent channels to RGB in [0, 1], fitted by least squares.
///
/// ```json
/// {"format": "chaperone.latent_preview.v1", "latent_channels": 4,
///  "weights": [[r0, r1, r2, r3], [g0, ...], [b0, ...]], "bias": [r, g, b],
///  "fit": {"samples": 8192, "rmse": 0.07}}
/// ```
public struct LinearLatentMap: Sendable, Equatable, Codable {
    public var format: String
    public var latentChannels: Int
    /// 3 rows (R, G, B) of `latentChannels` weights.
    public var weights: [[Double]]
    public var bias: [Double]

    public static let formatName = "chaperone.latent_preview.v1"

    public init(latentChannels: Int, weights: [[Double]], bias: [Double]) {
        self.format = Self.formatName
        self.latentChannels = latentChannels
        self.weights = weights
        self.bias = bias
    }

    enum CodingKeys: String, CodingKey {
        case format
        case latentChannels = "latent_channels"
        case weights, bias
    }

    /// Reads and checks a map; errors name the file and what is wrong.
    public static func load(from url: URL, latentChannels: Int) throws -> LinearLatentMap {
        let map: LinearLatentMap
        do {
            map = try JSONDecoder().decode(LinearLatentMap.self, from: Data(contentsOf: url))
        } catch {
            throw DiffusionError(.invalidConfig, "\(url.path): not a latent preview map: \(error)")
        }
        if let problem = map.problem(latentChannels: latentChannels) {
            throw DiffusionError(.invalidConfig, "\(url.path): \(problem)")
        }
        return map
    }

    /// What is wrong with the map for a model with `latentChannels`, nil when it fits.
    public func problem(latentChannels expected: Int) -> String? {
        if format != Self.formatName { return "format is '\(format)', expected '\(Self.formatName)'" }
        if latentChannels != expected { return "latent_channels is \(latentChannels) but the model has \(expected)" }
        if weights.count != 3 || weights.contains(where: { $0.count != latentChannels }) {
            return "weights must be 3 rows of \(latentChannels) numbers"
        }
        if bias.count != 3 { return "bias must hold 3 numbers" }
        if (weights.joined() + bias).contains(where: { !$0.isFinite }) { return "weights and bias must be finite" }
        return nil
    }

    /// 8-bit RGB of `width` × `height` from latents `[1, C, h, w]`: one colour per latent
    /// pixel, repeated over the block of output pixels it covers.
    public func decode(_ latents: Tensor, width: Int, height: Int) throws -> PixelBuffer {
        let shape = latents.shape
        guard shape.count == 4, shape[0] == 1, shape[1] == latentChannels, shape[2] > 0, shape[3] > 0 else {
            throw DiffusionError(.invalidInput, "latent preview: latents of shape \(shape), expected [1, \(latentChannels), h, w]")
        }
        let (h, w) = (shape[2], shape[3])
        guard width % w == 0, height % h == 0 else {
            throw DiffusionError(.invalidInput, "latent preview: \(width)x\(height) is not a multiple of the latent size \(w)x\(h)")
        }
        let z = latents.scalars
        let plane = h * w
        var small = [UInt8](repeating: 0, count: plane * 3)
        for pixel in 0..<plane {
            for channel in 0..<3 {
                var value = bias[channel]
                for c in 0..<latentChannels { value += weights[channel][c] * Double(z[c * plane + pixel]) }
                // The conversion to 8 bits rounds and saturates like the VAE's image conversion.
                small[pixel * 3 + channel] = UInt8(max(0, min(255, (value * 255).rounded())))
            }
        }
        let (sx, sy) = (width / w, height / h)
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let row = (y / sy) * w
            for x in 0..<width {
                let source = (row + x / sx) * 3
                let target = (y * width + x) * 3
                bytes[target] = small[source]
                bytes[target + 1] = small[source + 1]
                bytes[target + 2] = small[source + 2]
            }
        }
        return try PixelBuffer(width: width, height: height, channels: 3, bytes: bytes)
    }
}

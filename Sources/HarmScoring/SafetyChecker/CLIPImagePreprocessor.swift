import Foundation
import Tensor

/// transformers' `CLIPImageProcessor` for RGB 8-bit images: resize so the shortest edge is
/// `shortestEdge` (bicubic, Pillow's arithmetic), centre-crop, rescale by 1/255 and normalise
/// with the CLIP mean and standard deviation. Settings come from `preprocessor_config.json`.
public struct CLIPImagePreprocessor: Sendable, Equatable {
    public var shortestEdge: Int
    public var cropHeight: Int
    public var cropWidth: Int
    public var mean: [Float]
    public var std: [Float]
    public var rescaleFactor: Float

    public init(shortestEdge: Int = 224, cropHeight: Int = 224, cropWidth: Int = 224,
                mean: [Float] = [0.48145466, 0.4578275, 0.40821073],
                std: [Float] = [0.26862954, 0.26130258, 0.27577711],
                rescaleFactor: Float = 1.0 / 255.0) {
        self.shortestEdge = shortestEdge
        self.cropHeight = cropHeight
        self.cropWidth = cropWidth
        self.mean = mean
        self.std = std
        self.rescaleFactor = rescaleFactor
    }

    private struct File: Decodable {
        struct Size: Decodable {
            var shortestEdge: Int?
            var height: Int?
            var width: Int?
            enum CodingKeys: String, CodingKey {
                case shortestEdge = "shortest_edge"
                case height, width
            }
        }

        var size: Size?
        var cropSize: Size?
        var imageMean: [Float]?
        var imageStd: [Float]?
        var rescaleFactor: Float?
        var resample: Int?
        var doCenterCrop: Bool?

        enum CodingKeys: String, CodingKey {
            case size
            case cropSize = "crop_size"
            case imageMean = "image_mean"
            case imageStd = "image_std"
            case rescaleFactor = "rescale_factor"
            case resample
            case doCenterCrop = "do_center_crop"
        }
    }

    /// Reads a `preprocessor_config.json`; only the CLIP pipeline it describes is supported
    /// (bicubic resize by shortest edge, centre crop), anything else is a clear error.
    public static func load(from url: URL) throws -> CLIPImagePreprocessor {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        } catch {
            throw HarmScoringError(.modelLoad, "\(url.path): cannot read the image processor config: \(error)")
        }
        if let resample = file.resample, resample != 3 {
            throw HarmScoringError(.modelLoad, "\(url.path): resample \(resample) is not supported (only 3, bicubic)")
        }
        if file.doCenterCrop == false {
            throw HarmScoringError(.modelLoad, "\(url.path): do_center_crop false is not supported")
        }
        var result = CLIPImagePreprocessor()
        if let edge = file.size?.shortestEdge { result.shortestEdge = edge }
        if let crop = file.cropSize, let h = crop.height, let w = crop.width {
            result.cropHeight = h
            result.cropWidth = w
        }
        if let mean = file.imageMean { result.mean = mean }
        if let std = file.imageStd { result.std = std }
        if let factor = file.rescaleFactor { result.rescaleFactor = factor }
        guard result.mean.count == 3, result.std.count == 3, result.std.allSatisfy({ $0 > 0 }),
              result.shortestEdge > 0, result.cropHeight > 0, result.cropWidth > 0 else {
            throw HarmScoringError(.modelLoad, "\(url.path): image processor sizes, mean or std are invalid")
        }
        return result
    }

    /// Interleaved RGB 8-bit pixels → pixel values [1, 3, cropHeight, cropWidth].
    public func pixelValues(rgb: [UInt8], width: Int, height: Int) -> Tensor {
        precondition(rgb.count == width * height * 3, "RGB buffer has \(rgb.count) bytes for \(width)×\(height)")
        let (newWidth, newHeight): (Int, Int)
        if width <= height {
            newWidth = shortestEdge
            newHeight = Int(Double(shortestEdge) * Double(height) / Double(width))
        } else {
            newHeight = shortestEdge
            newWidth = Int(Double(shortestEdge) * Double(width) / Double(height))
        }
        let resized = (newWidth == width && newHeight == height)
            ? rgb
            : PILResample.resize(rgb, width: width, height: height, channels: 3,
                                 toWidth: newWidth, height: newHeight, filter: .bicubic)
        // Centre crop (padding with zeros where the image is smaller, as transformers does).
        let top = (newHeight - cropHeight) / 2
        let left = (newWidth - cropWidth) / 2
        var values = [Float](repeating: 0, count: 3 * cropHeight * cropWidth)
        for c in 0..<3 {
            let offset = (0 - mean[c]) / std[c]
            for y in 0..<cropHeight {
                for x in 0..<cropWidth {
                    let sy = y + top, sx = x + left
                    let index = (c * cropHeight + y) * cropWidth + x
                    if sy >= 0, sy < newHeight, sx >= 0, sx < newWidth {
                        let v = Float(resized[(sy * newWidth + sx) * 3 + c]) * rescaleFactor
                        values[index] = (v - mean[c]) / std[c]
                    } else {
                        values[index] = offset
                    }
                }
            }
        }
        return Tensor(shape: [1, 3, cropHeight, cropWidth], scalars: values)
    }
}

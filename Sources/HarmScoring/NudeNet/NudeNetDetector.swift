import Diffusion
import Foundation
import OnnxRunner
import Tensor

/// NudeNet v3 (`320n.onnx` of the `nudenet` 3.4.2 package, a YOLOv8n detector) run natively:
/// the same detections as `NudeDetector().detect(path)` of the Python package.
///
/// Load once and share: the detector is immutable and `Sendable`, and `detect` may be called
/// from several tasks at once. Fetch the model with `ops/lib/nudenet-model.sh`.
public struct NudeNetDetector: Sendable {
    /// sha256 of the supported model file (checked by `ops/lib/nudenet-model.sh`).
    public static let modelSHA256 = "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"

    public let preprocessor: NudeNetPreprocessor
    public let postprocessor: NudeNetPostprocessor
    private let model: OnnxModel
    private let inputName: String
    private let outputName: String

    /// Loads the detector from a `320n.onnx` file.
    ///
    /// `channelOrder` defaults to the package's B, G, R (see `NudeNetPreprocessor.ChannelOrder`).
    public init(modelURL: URL, inputSize: Int = 320, channelOrder: NudeNetPreprocessor.ChannelOrder = .bgr) throws(HarmScoringError) {
        let model: OnnxModel
        do {
            model = try OnnxModel(contentsOf: modelURL)
        } catch {
            throw HarmScoringError(.modelLoad, "NudeNet model: \(error.description)")
        }
        guard model.inputs.count == 1, let output = model.outputs.first else {
            throw HarmScoringError(.modelLoad, "NudeNet model \(modelURL.path): expected one input and an output, got inputs \(model.inputNames) and outputs \(model.outputNames)")
        }
        if let shape = model.inputs[0].shape {
            guard shape.count == 4, shape[1] == .value(3) else {
                throw HarmScoringError(.modelLoad, "NudeNet model \(modelURL.path): input '\(model.inputs[0].name)' has shape \(shape), expected [batch, 3, H, W]")
            }
        }
        self.model = model
        inputName = model.inputs[0].name
        outputName = output.name
        preprocessor = NudeNetPreprocessor(inputSize: inputSize, channelOrder: channelOrder)
        var post = NudeNetPostprocessor()
        post.inputSize = inputSize
        postprocessor = post
    }

    /// Detects on 8-bit RGB pixels (`height` rows of `width` pixels, interleaved R, G, B).
    public func detect(rgb: [UInt8], width: Int, height: Int) throws(HarmScoringError) -> [NudeNetDetection] {
        let blob = try preprocessor.blob(rgb: rgb, width: width, height: height)
        let output0 = try rawOutput(blob: blob)
        return try postprocessor.detections(output0: output0, width: width, height: height)
    }

    /// Detects on a decoded image (gray and alpha are handled as `PixelBuffer.rgb()` does).
    public func detect(_ image: PixelBuffer) throws(HarmScoringError) -> [NudeNetDetection] {
        let rgb = image.rgb()
        return try detect(rgb: rgb.bytes, width: rgb.width, height: rgb.height)
    }

    /// Runs the network once on a prepared blob and returns the milliseconds per operator type
    /// (for benchmarks).
    public func profile(blob: Tensor) throws(HarmScoringError) -> [String: Double] {
        do {
            return try model.runProfiled([inputName: .float(blob)]).millisecondsByOperator
        } catch {
            throw HarmScoringError(.inference, "NudeNet: \(error.description)")
        }
    }

    /// Runs the network on a prepared blob `[1, 3, size, size]` and returns `output0`.
    public func rawOutput(blob: Tensor) throws(HarmScoringError) -> Tensor {
        do {
            let outputs = try model.run([inputName: .float(blob)])
            guard let output0 = outputs[outputName]?.floatTensor else {
                throw HarmScoringError(.inference, "NudeNet: output '\(outputName)' missing or not float")
            }
            return output0
        } catch let error as OnnxError {
            throw HarmScoringError(.inference, "NudeNet: \(error.description)")
        } catch let error as HarmScoringError {
            throw error
        } catch {
            throw HarmScoringError(.inference, "NudeNet: \(error)")
        }
    }
}

import Contracts
import Diffusion
import Foundation
import OnnxRunner
import Tensor

/// What an ``OnnxImageScorer`` found in one image.
public struct ImageScoring: Sendable, Equatable {
    /// One score per reported label: for a grid scorer its label with the largest cell
    /// probability; for a classes scorer every label with its probability.
    public var scores: [HarmScore]
    /// Grid scorers: the cells at or above the threshold, as boxes in the scored image's pixels
    /// (row by row). Classes scorers: empty.
    public var regions: [PixelRect]
    /// Grid scorers: the flagged cells grouped into 4-connected components, the count of
    /// distinct detections (exposed-region counts). Classes scorers: 0.
    public var detections: Int
    /// Grid scorers: every cell probability `[gh][gw]`. Classes scorers: the probabilities.
    public var raw: [Float]

    public init(scores: [HarmScore], regions: [PixelRect], detections: Int, raw: [Float]) {
        self.scores = scores
        self.regions = regions
        self.detections = detections
        self.raw = raw
    }

    /// The label with the highest probability (classes scorers), nil when there are no scores.
    public var topLabel: String? {
        scores.max { $0.score < $1.score }?.label
    }
}

/// A small image classifier or cell detector exported to ONNX, run by the native runner and
/// described by a ``ScorerDescriptor``.
///
/// The image is resized to the input size with Pillow's bilinear filter (only when its size
/// differs), scaled to [0, 1] and fed as `[1, 3, H, W]` RGB. Loading checks the descriptor,
/// the model's declared input and runs the network once on a blank image to check the output
/// shape, so a bad pair fails at start, not on the first request. Immutable and `Sendable`.
public struct OnnxImageScorer: Sendable {
    public let descriptor: ScorerDescriptor
    private let model: OnnxModel
    private let inputName: String
    private let outputName: String
    /// Grid size (rows, columns) of a grid scorer's output; (0, 0) for classes.
    public let gridRows: Int
    public let gridColumns: Int

    /// The scorer's name (its descriptor's file name without `.json`).
    public var name: String { descriptor.name }

    /// Loads `<folder>/<name>.json` and the ONNX file it names.
    public init(descriptorURL: URL) throws(HarmScoringError) {
        let descriptor = try ScorerDescriptor.load(from: descriptorURL)
        try self.init(descriptor: descriptor, modelURL: descriptorURL.deletingLastPathComponent().appendingPathComponent(descriptor.onnx))
    }

    /// Loads the model at `modelURL` for `descriptor`.
    public init(descriptor: ScorerDescriptor, modelURL: URL) throws(HarmScoringError) {
        let what = "scorer \(descriptor.name) (\(modelURL.path))"
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw HarmScoringError(.modelLoad, "\(what): the ONNX file named by the descriptor's 'onnx' field does not exist")
        }
        let model: OnnxModel
        do {
            model = try OnnxModel(contentsOf: modelURL)
        } catch {
            throw HarmScoringError(.modelLoad, "\(what): \(error.description)")
        }
        guard model.inputs.count == 1, model.outputs.count >= 1 else {
            throw HarmScoringError(.modelLoad, "\(what): expected one input and at least one output, got inputs \(model.inputNames) and outputs \(model.outputNames)")
        }
        let expected: [Int] = [1, 3, descriptor.inputHeight, descriptor.inputWidth]
        if let shape = model.inputs[0].shape {
            let fits = shape.count == 4 && zip(shape, expected).allSatisfy { dim, size in
                if case .value(let v) = dim { return v == Int64(size) }
                return true
            }
            guard fits else {
                throw HarmScoringError(.modelLoad, "\(what): input '\(model.inputs[0].name)' has shape \(shape), the descriptor says \(expected)")
            }
        }
        self.descriptor = descriptor
        self.model = model
        inputName = model.inputs[0].name
        outputName = model.outputs[0].name

        // One run on a blank image: the output must be what the descriptor's kind says.
        let probe: Tensor
        do {
            guard let out = try model.run([inputName: .float(Tensor.zeros(expected))])[outputName]?.floatTensor else {
                throw HarmScoringError(.modelLoad, "\(what): output '\(outputName)' is missing or not float")
            }
            probe = out
        } catch let error as HarmScoringError {
            throw error
        } catch {
            throw HarmScoringError(.modelLoad, "\(what): running the model on a blank \(descriptor.inputWidth)x\(descriptor.inputHeight) image failed: \(error)")
        }
        switch descriptor.outputKind {
        case .grid:
            guard probe.rank == 4, probe.shape[0] == 1, probe.shape[1] == 1, probe.shape[2] >= 1, probe.shape[3] >= 1 else {
                throw HarmScoringError(.modelLoad, "\(what): output '\(outputName)' has shape \(probe.shape), a grid scorer returns [1, 1, rows, columns]")
            }
            guard probe.shape[2] <= descriptor.inputHeight, probe.shape[3] <= descriptor.inputWidth else {
                throw HarmScoringError(.modelLoad, "\(what): output grid \(probe.shape[2])x\(probe.shape[3]) is finer than the input")
            }
            gridRows = probe.shape[2]
            gridColumns = probe.shape[3]
        case .classes:
            guard probe.rank == 2, probe.shape[0] == 1, probe.shape[1] == descriptor.labels.count else {
                throw HarmScoringError(.modelLoad, "\(what): output '\(outputName)' has shape \(probe.shape), a classes scorer with \(descriptor.labels.count) labels returns [1, \(descriptor.labels.count)]")
            }
            gridRows = 0
            gridColumns = 0
        }
    }

    /// Loads every `*.json` descriptor of `folder` (sorted by name) with its model.
    public static func loadFolder(_ folder: URL) throws(HarmScoringError) -> [OnnxImageScorer] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            throw HarmScoringError(.modelLoad, "scorers folder \(folder.path): cannot list: \(error.localizedDescription)")
        }
        var scorers: [OnnxImageScorer] = []
        for file in names.filter({ $0.hasSuffix(".json") }).sorted() {
            scorers.append(try OnnxImageScorer(descriptorURL: folder.appendingPathComponent(file)))
        }
        return scorers
    }

    /// The network input for 8-bit RGB pixels: resized (Pillow bilinear) when the size differs,
    /// × 1/255, planar `[1, 3, H, W]`.
    public func input(rgb: [UInt8], width: Int, height: Int) throws(HarmScoringError) -> Tensor {
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
            throw HarmScoringError(.invalidImage, "scorer \(name): image size \(width)x\(height) is not supported")
        }
        guard rgb.count == width * height * 3 else {
            throw HarmScoringError(.invalidImage, "scorer \(name): \(rgb.count) bytes do not fill a \(width)x\(height) RGB image")
        }
        let w = descriptor.inputWidth, h = descriptor.inputHeight
        let pixels = (width == w && height == h)
            ? rgb
            : PILResample.resize(rgb, width: width, height: height, channels: 3, toWidth: w, height: h, filter: .bilinear)
        let plane = w * h
        return Tensor(shape: [1, 3, h, w], unsafeUninitialized: { out in
            for p in 0..<plane {
                for c in 0..<3 { out[c * plane + p] = Float(pixels[p * 3 + c]) / 255 }
            }
        })
    }

    /// Runs the network on a prepared input and returns its first output.
    public func rawOutput(_ input: Tensor) throws(HarmScoringError) -> Tensor {
        do {
            guard let out = try model.run([inputName: .float(input)])[outputName]?.floatTensor else {
                throw HarmScoringError(.inference, "scorer \(name): output '\(outputName)' is missing or not float")
            }
            return out
        } catch let error as HarmScoringError {
            throw error
        } catch {
            throw HarmScoringError(.inference, "scorer \(name): \(error)")
        }
    }

    /// Scores 8-bit RGB pixels (`height` rows of `width` pixels, interleaved R, G, B).
    public func score(rgb: [UInt8], width: Int, height: Int) throws(HarmScoringError) -> ImageScoring {
        let output = try rawOutput(try input(rgb: rgb, width: width, height: height))
        let values = output.scalars
        switch descriptor.outputKind {
        case .grid:
            guard output.shape == [1, 1, gridRows, gridColumns] else {
                throw HarmScoringError(.inference, "scorer \(name): output shape \(output.shape), expected [1, 1, \(gridRows), \(gridColumns)]")
            }
            let grid = GridRegions(rows: gridRows, columns: gridColumns, threshold: descriptor.threshold ?? 0.5)
            let label = descriptor.harmLabel ?? descriptor.labels[0]
            return ImageScoring(
                scores: [HarmScore(scorer: name, label: label, score: Double(values.max() ?? 0))],
                regions: grid.regions(values, imageWidth: width, imageHeight: height),
                detections: grid.components(values),
                raw: values)
        case .classes:
            guard output.shape == [1, descriptor.labels.count] else {
                throw HarmScoringError(.inference, "scorer \(name): output shape \(output.shape), expected [1, \(descriptor.labels.count)]")
            }
            return ImageScoring(
                scores: zip(descriptor.labels, values).map { HarmScore(scorer: name, label: $0, score: Double($1)) },
                regions: [], detections: 0, raw: values)
        }
    }

    /// Scores a decoded image (gray and alpha are handled as `PixelBuffer.rgb()` does).
    public func score(_ image: PixelBuffer) throws(HarmScoringError) -> ImageScoring {
        let rgb = image.rgb()
        return try score(rgb: rgb.bytes, width: rgb.width, height: rgb.height)
    }
}

/// The arithmetic from a grid of cell probabilities to flagged cells, pixel boxes and
/// detections. Cell `(r, c)` of a `rows`×`columns` grid covers image columns
/// `⌊c·W/columns⌋ ..< ⌊(c+1)·W/columns⌋` and rows likewise, so the cells tile the image exactly.
public struct GridRegions: Sendable, Hashable {
    public var rows: Int
    public var columns: Int
    /// A cell is flagged when its probability is at or above this.
    public var threshold: Double

    public init(rows: Int, columns: Int, threshold: Double) {
        precondition(rows > 0 && columns > 0, "a grid needs at least one cell")
        self.rows = rows
        self.columns = columns
        self.threshold = threshold
    }

    /// Whether each cell (row-major) is flagged.
    public func flagged(_ cells: [Float]) -> [Bool] {
        precondition(cells.count == rows * columns, "\(cells.count) cell values for a \(rows)x\(columns) grid")
        return cells.map { Double($0) >= threshold }
    }

    /// The pixel box of cell (`row`, `column`) in an image of `imageWidth`×`imageHeight`.
    public func box(row: Int, column: Int, imageWidth: Int, imageHeight: Int) -> PixelRect {
        let x0 = column * imageWidth / columns, x1 = (column + 1) * imageWidth / columns
        let y0 = row * imageHeight / rows, y1 = (row + 1) * imageHeight / rows
        return PixelRect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// The boxes of the flagged cells, row by row.
    public func regions(_ cells: [Float], imageWidth: Int, imageHeight: Int) -> [PixelRect] {
        let flags = flagged(cells)
        var boxes: [PixelRect] = []
        for r in 0..<rows {
            for c in 0..<columns where flags[r * columns + c] {
                boxes.append(box(row: r, column: c, imageWidth: imageWidth, imageHeight: imageHeight))
            }
        }
        return boxes
    }

    /// The number of 4-connected groups of flagged cells.
    public func components(_ cells: [Float]) -> Int {
        var flags = flagged(cells)
        var count = 0
        for start in flags.indices where flags[start] {
            count += 1
            var stack = [start]
            flags[start] = false
            while let i = stack.popLast() {
                let r = i / columns, c = i % columns
                for (nr, nc) in [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
                where nr >= 0 && nr < rows && nc >= 0 && nc < columns && flags[nr * columns + nc] {
                    flags[nr * columns + nc] = false
                    stack.append(nr * columns + nc)
                }
            }
        }
        return count
    }
}

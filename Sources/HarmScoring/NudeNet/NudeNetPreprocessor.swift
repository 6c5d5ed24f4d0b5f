import Tensor

/// NudeNet 3.4.2's input preparation, bit for bit: zero-pad bottom/right to a square, resize to
/// 320×320 as OpenCV's `cv2.resize(INTER_LINEAR)` does on 8-bit images (fixed-point weights),
/// then scale by 1/255 into an NCHW float blob.
///
/// Channel order: the package reads files with `cv2.imread` (B, G, R), converts with
/// `COLOR_RGBA2BGR` (which reverses three channels) and then asks `blobFromImage` to swap R and
/// B again, so the network sees the file's pixels as B, G, R. Given RGB pixels, channel 0 of
/// the blob is therefore blue (methods.md §8.1).
public struct NudeNetPreprocessor: Sendable {
    /// Which colour the blob's first channel holds.
    public enum ChannelOrder: String, Codable, Sendable {
        /// B, G, R: what `NudeDetector().detect(path)` of nudenet 3.4.2 feeds (the default).
        case bgr
        /// R, G, B: what Ultralytics trained on; selectable once measured on labelled images.
        case rgb
    }

    /// Side of the square network input.
    public let inputSize: Int
    /// Channel order of the blob.
    public let channelOrder: ChannelOrder

    public init(inputSize: Int = 320, channelOrder: ChannelOrder = .bgr) {
        self.inputSize = inputSize
        self.channelOrder = channelOrder
    }

    /// The resized square image as planar bytes `[3, size, size]` in `channelOrder` (the blob × 255).
    public func resizedPlanes(rgb: [UInt8], width: Int, height: Int) throws(HarmScoringError) -> [UInt8] {
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
            throw HarmScoringError(.invalidImage, "NudeNet: image size \(width)x\(height) is not supported")
        }
        guard rgb.count == width * height * 3 else {
            throw HarmScoringError(.invalidImage, "NudeNet: \(rgb.count) bytes do not fill a \(width)x\(height) RGB image")
        }
        let side = max(width, height)
        let size = inputSize
        // Padded square, interleaved in the blob's channel order (resizing is per channel).
        var padded = [UInt8](repeating: 0, count: side * side * 3)
        let (first, last) = channelOrder == .bgr ? (2, 0) : (0, 2)
        for y in 0..<height {
            for x in 0..<width {
                let s = (y * width + x) * 3, d = (y * side + x) * 3
                padded[d] = rgb[s + first]
                padded[d + 1] = rgb[s + 1]
                padded[d + 2] = rgb[s + last]
            }
        }
        let resized: [UInt8]
        if side == size {
            resized = padded
        } else if side == 2 * size {
            resized = Self.halve(padded, side: side)
        } else {
            resized = Self.resizeLinear(padded, side: side, to: size)
        }
        // Interleaved → planar.
        var planes = [UInt8](repeating: 0, count: 3 * size * size)
        let plane = size * size
        for p in 0..<plane {
            planes[p] = resized[p * 3]
            planes[plane + p] = resized[p * 3 + 1]
            planes[2 * plane + p] = resized[p * 3 + 2]
        }
        return planes
    }

    /// The network input `[1, 3, size, size]`: resized planes × (1/255) in float32.
    public func blob(rgb: [UInt8], width: Int, height: Int) throws(HarmScoringError) -> Tensor {
        let planes = try resizedPlanes(rgb: rgb, width: width, height: height)
        let scale = Float(1.0 / 255.0)
        return Tensor(shape: [1, 3, inputSize, inputSize], scalars: planes.map { Float($0) * scale })
    }

    // MARK: OpenCV resize emulation (3 interleaved 8-bit channels, square in and out)

    /// OpenCV turns an exact 2× downscale with INTER_LINEAR into INTER_AREA: 2×2 means, rounded.
    static func halve(_ src: [UInt8], side: Int) -> [UInt8] {
        let out = side / 2
        var dst = [UInt8](repeating: 0, count: out * out * 3)
        for y in 0..<out {
            for x in 0..<out {
                for c in 0..<3 {
                    let a = Int(src[((2 * y) * side + 2 * x) * 3 + c]), b = Int(src[((2 * y) * side + 2 * x + 1) * 3 + c])
                    let d = Int(src[((2 * y + 1) * side + 2 * x) * 3 + c]), e = Int(src[((2 * y + 1) * side + 2 * x + 1) * 3 + c])
                    dst[(y * out + x) * 3 + c] = UInt8((a + b + d + e + 2) >> 2)
                }
            }
        }
        return dst
    }

    /// Source taps and 11-bit fixed-point weights of one axis, as OpenCV's `resize` computes them.
    /// Horizontal taps clamp the coordinate at the borders; vertical ones clamp only the rows.
    static func taps(source: Int, destination: Int, clampWeights: Bool) -> [(i0: Int, i1: Int, w0: Int32, w1: Int32)] {
        let scale = 1.0 / (Double(destination) / Double(source))
        return (0..<destination).map { d in
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            var s = Int(f.rounded(.down))
            f -= Float(s)
            if clampWeights {
                if s < 0 { (f, s) = (0, 0) }
                if s >= source - 1 { (f, s) = (0, source - 1) }
            }
            let w0 = Int32(((1 - f) * 2048).rounded(.toNearestOrEven))
            let w1 = Int32((f * 2048).rounded(.toNearestOrEven))
            return (min(max(s, 0), source - 1), min(max(s + 1, 0), source - 1), w0, w1)
        }
    }

    /// Bilinear resize with OpenCV's fixed-point arithmetic: a horizontal pass into 32-bit sums
    /// (weights × 2048), then the vertical pass of its SIMD path, which pre-shifts by 4 and keeps
    /// the high 16 bits of each product before rounding (this differs from the scalar formula).
    static func resizeLinear(_ src: [UInt8], side: Int, to size: Int) -> [UInt8] {
        let xt = taps(source: side, destination: size, clampWeights: true)
        let yt = taps(source: side, destination: size, clampWeights: false)
        let rowLength = size * 3
        var rowCache: [Int: [Int32]] = [:]
        func horizontal(_ y: Int) -> [Int32] {
            if let row = rowCache[y] { return row }
            var row = [Int32](repeating: 0, count: rowLength)
            let base = y * side * 3
            for (x, t) in xt.enumerated() {
                for c in 0..<3 {
                    row[x * 3 + c] = Int32(src[base + t.i0 * 3 + c]) * t.w0 + Int32(src[base + t.i1 * 3 + c]) * t.w1
                }
            }
            rowCache[y] = row
            return row
        }
        var dst = [UInt8](repeating: 0, count: size * rowLength)
        for (y, t) in yt.enumerated() {
            let r0 = horizontal(t.i0), r1 = horizontal(t.i1)
            for i in 0..<rowLength {
                let a = Int32(Int16(clamping: r0[i] >> 4)), b = Int32(Int16(clamping: r1[i] >> 4))
                let v = (((a * t.w0) >> 16) + ((b * t.w1) >> 16) + 2) >> 2
                dst[y * rowLength + i] = UInt8(clamping: v)
            }
            if y > 0, yt[y - 1].i0 != t.i0, yt[y - 1].i0 != t.i1 { rowCache[yt[y - 1].i0] = nil }
        }
        return dst
    }
}

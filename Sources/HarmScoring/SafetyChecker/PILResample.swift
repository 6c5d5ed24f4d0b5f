/// Resizes 8-bit images exactly as Pillow's `Image.resize` does with a convolution filter
/// (the path transformers' CLIP image processor takes), so preprocessing matches the reference
/// bit for bit.
///
/// Pillow resamples separably, horizontal pass first, each output pixel a weighted sum of the
/// input pixels under the filter scaled by the downscale factor (antialiasing); weights are
/// normalised, turned into fixed point with 22 fractional bits, and each pass rounds and clips
/// to 8 bits.
enum PILResample {
    enum Filter {
        case bicubic
        case bilinear

        var support: Double {
            switch self {
            case .bicubic: 2
            case .bilinear: 1
            }
        }

        func weight(_ x: Double) -> Double {
            let x = abs(x)
            switch self {
            case .bicubic:
                let a = -0.5
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            case .bilinear:
                return x < 1 ? 1 - x : 0
            }
        }
    }

    private static let precisionBits = 32 - 8 - 2

    /// For each output position: the first input index and the fixed-point weights.
    static func coefficients(inputSize: Int, outputSize: Int, filter: Filter) -> [(start: Int, weights: [Int32])] {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        return (0..<outputSize).map { i in
            let center = (Double(i) + 0.5) * scale
            let start = max(Int(center - support + 0.5), 0)
            let end = min(Int(center + support + 0.5), inputSize)
            var weights = (start..<end).map { j in filter.weight((Double(j) - center + 0.5) / filterScale) }
            let total = weights.reduce(0, +)
            if total != 0 { weights = weights.map { $0 / total } }
            let fixed = weights.map { w -> Int32 in
                let scaled = w * Double(1 << precisionBits)
                return Int32(w < 0 ? (scaled - 0.5).rounded(.towardZero) : (scaled + 0.5).rounded(.towardZero))
            }
            return (start, fixed)
        }
    }

    private static func clip8(_ value: Int64) -> UInt8 {
        let shifted = value >> Int64(precisionBits)
        return UInt8(clamping: shifted)
    }

    /// Resizes interleaved 8-bit pixels (`channels` per pixel).
    static func resize(
        _ pixels: [UInt8], width: Int, height: Int, channels: Int,
        toWidth outWidth: Int, height outHeight: Int, filter: Filter
    ) -> [UInt8] {
        var current = pixels
        var currentWidth = width
        if outWidth != width {
            let coefficients = coefficients(inputSize: width, outputSize: outWidth, filter: filter)
            var out = [UInt8](repeating: 0, count: outWidth * height * channels)
            for y in 0..<height {
                for (x, c) in coefficients.enumerated() {
                    for ch in 0..<channels {
                        var sum = Int64(1) << Int64(precisionBits - 1)
                        for (k, w) in c.weights.enumerated() {
                            sum += Int64(current[(y * width + c.start + k) * channels + ch]) * Int64(w)
                        }
                        out[(y * outWidth + x) * channels + ch] = clip8(sum)
                    }
                }
            }
            current = out
            currentWidth = outWidth
        }
        if outHeight != height {
            let coefficients = coefficients(inputSize: height, outputSize: outHeight, filter: filter)
            var out = [UInt8](repeating: 0, count: currentWidth * outHeight * channels)
            for (y, c) in coefficients.enumerated() {
                for x in 0..<currentWidth {
                    for ch in 0..<channels {
                        var sum = Int64(1) << Int64(precisionBits - 1)
                        for (k, w) in c.weights.enumerated() {
                            sum += Int64(current[((c.start + k) * currentWidth + x) * channels + ch]) * Int64(w)
                        }
                        out[(y * currentWidth + x) * channels + ch] = clip8(sum)
                    }
                }
            }
            current = out
        }
        return current
    }
}

import Tensor

extension DiffusionError.Code {
    /// An image file is malformed, truncated, or in a variant the decoder does not support.
    public static let invalidImage = DiffusionError.Code("invalidImage")
}

/// An 8-bit image: `height` rows of `width` pixels, `channels` interleaved bytes per pixel
/// (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), rows top to bottom.
public struct PixelBuffer: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    /// `height × width × channels` bytes.
    public var bytes: [UInt8]

    /// Wraps pixel bytes; the count must equal `height × width × channels`.
    public init(width: Int, height: Int, channels: Int, bytes: [UInt8]) throws {
        guard width > 0, height > 0, (1...4).contains(channels) else {
            throw DiffusionError(.invalidImage, "image: invalid size \(width)x\(height) with \(channels) channels")
        }
        let (count, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, count.multipliedReportingOverflow(by: channels).partialValue == bytes.count,
              !count.multipliedReportingOverflow(by: channels).overflow else {
            throw DiffusionError(.invalidImage,
                "image: \(bytes.count) bytes do not fill \(width)x\(height) with \(channels) channels")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.bytes = bytes
    }

    /// The image as 3-channel RGB: gray is replicated, alpha is dropped (not composited).
    public func rgb() -> PixelBuffer {
        if channels == 3 { return self }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) {
            let source = p * channels
            for c in 0..<3 {
                out[p * 3 + c] = channels <= 2 ? bytes[source] : bytes[source + c]
            }
        }
        // Sizes were validated when `self` was made.
        return try! PixelBuffer(width: width, height: height, channels: 3, bytes: out)
    }

    /// Converts a decoded image tensor `[1, 3, H, W]` with values in [-1, 1] to 8-bit RGB
    /// exactly as diffusers' image processor does: `(x * 0.5 + 0.5).clamp(0, 1)`, `× 255`,
    /// rounded half to even (NumPy `round`).
    public init(imageTensor: Tensor) throws {
        let shape = imageTensor.shape
        guard shape.count == 4, shape[0] == 1, shape[1] == 3, shape[2] > 0, shape[3] > 0 else {
            throw DiffusionError(.invalidInput, "image tensor: expected shape [1, 3, H, W], got \(shape)")
        }
        let height = shape[2], width = shape[3]
        let plane = height * width
        var out = [UInt8](repeating: 0, count: plane * 3)
        imageTensor.withUnsafeBufferPointer { values in
            for c in 0..<3 {
                for p in 0..<plane {
                    let x = values[c * plane + p]
                    let unit = min(max(x * 0.5 + 0.5, 0), 1)
                    let scaled = (unit * 255).rounded(.toNearestOrEven)
                    // NaN (a broken model output) becomes 0 rather than trapping.
                    out[p * 3 + c] = scaled.isNaN ? 0 : UInt8(scaled)
                }
            }
        }
        try self.init(width: width, height: height, channels: 3, bytes: out)
    }
}

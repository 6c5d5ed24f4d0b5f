import Tensor

/// diffusers `Downsample2D` with a convolution: 3×3, stride 2 (`<prefix>conv.*`).
///
/// The UNet pads 1 on every side; the VAE encoder (`padding=0` in diffusers) pads only the
/// right and bottom by one before the convolution.
public struct Downsample2D: Sendable {
    public let conv: Conv2d
    public let padding: Padding2D

    /// `padding` nil means the VAE encoder's asymmetric (0, 1, 0, 1) padding.
    public init(_ p: ParameterReader, _ prefix: String, channels: Int, padding: Int?) {
        conv = Conv2d(p, prefix + "conv.", inChannels: channels, outChannels: channels, kernel: 3, stride: 2)
        self.padding = padding.map { Padding2D($0) } ?? Padding2D(top: 0, bottom: 1, left: 0, right: 1)
    }

    /// x [B, C, H, W] → [B, C, H/2, W/2] (rounded as the padding gives)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv(x, padding: padding)
    }
}

/// diffusers `Upsample2D` with a convolution: nearest-neighbour ×2 (or to a given size), then
/// a 3×3 convolution (`<prefix>conv.*`).
public struct Upsample2D: Sendable {
    public let conv: Conv2d

    /// Reads `<prefix>conv.*`.
    public init(_ p: ParameterReader, _ prefix: String, channels: Int) {
        conv = Conv2d(p, prefix + "conv.", inChannels: channels, outChannels: channels, kernel: 3, padding: 1)
    }

    /// x [B, C, H, W] → [B, C, 2H, 2W], or [B, C, size.h, size.w] when `size` is given (the UNet
    /// passes the skip connection's size when the latent size is not a multiple of 2^levels).
    public func callAsFunction(_ x: Tensor, size: (height: Int, width: Int)? = nil) -> Tensor {
        guard let size, size != (x.shape[2] * 2, x.shape[3] * 2) else {
            return conv.afterNearestUpsample(x)
        }
        return conv(resizeNearest(x, height: size.height, width: size.width))
    }
}

/// Nearest-neighbour resize of [N, C, H, W] to any [N, C, height, width] with PyTorch's
/// `interpolate(mode="nearest", size=...)` index rule: source = floor(dest · in / out), clamped.
func resizeNearest(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 4, "resizeNearest: input must be [N, C, H, W], got \(x.shape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let scaleH = Float(h) / Float(height), scaleW = Float(w) / Float(width)
    let rows = (0..<height).map { Swift.min(Int((Float($0) * scaleH).rounded(.down)), h - 1) }
    let cols = (0..<width).map { Swift.min(Int((Float($0) * scaleW).rounded(.down)), w - 1) }
    return x.withUnsafeBufferPointer { src in
        Tensor(shape: [n, c, height, width]) { dst in
            let dstBase = dst.baseAddress!
            parallelFor(n * c, minimumPerChunk: 4) { planes in
                for plane in planes {
                    let s = src.baseAddress! + plane * h * w
                    let d = dstBase + plane * height * width
                    for (i, row) in rows.enumerated() {
                        let srow = s + row * w
                        let drow = d + i * width
                        for (j, col) in cols.enumerated() { drow[j] = srow[col] }
                    }
                }
            }
        }
    }
}

/// A rectangle in image pixels, top-left origin, as detectors report boxes.
public struct PixelRect: Codable, Sendable, Hashable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// The part of the rectangle inside an image of the given size (possibly empty).
    public func clipped(width imageWidth: Int, height imageHeight: Int) -> PixelRect {
        let left = min(max(x, 0), imageWidth)
        let top = min(max(y, 0), imageHeight)
        let right = min(max(x + width, 0), imageWidth)
        let bottom = min(max(y + height, 0), imageHeight)
        return PixelRect(x: left, y: top, width: right - left, height: bottom - top)
    }
}

/// Censors regions of an 8-bit interleaved image by pixelation: every cell of `blockSize`×
/// `blockSize` pixels inside a region is replaced by the cell's mean colour (rounded).
///
/// Cells are aligned to the image grid, not to the region, so overlapping regions produce the
/// same mosaic; a cell cut by the region's edge averages only its pixels inside the region,
/// so nothing outside a region changes.
public enum Pixelation {
    /// Pixelates `regions` of `pixels` in place (`channels` interleaved bytes per pixel).
    public static func apply(
        to pixels: inout [UInt8], width: Int, height: Int, channels: Int,
        regions: [PixelRect], blockSize: Int
    ) {
        precondition(width >= 0 && height >= 0 && channels > 0, "image size must be non-negative")
        precondition(pixels.count == width * height * channels,
                     "pixel buffer has \(pixels.count) bytes, expected \(width)×\(height)×\(channels)")
        precondition(blockSize > 0, "block size must be positive")
        var sums = [Int](repeating: 0, count: channels)
        for region in regions {
            let r = region.clipped(width: width, height: height)
            guard r.width > 0, r.height > 0 else { continue }
            var cellTop = (r.y / blockSize) * blockSize
            while cellTop < r.y + r.height {
                let top = max(cellTop, r.y), bottom = min(cellTop + blockSize, r.y + r.height)
                var cellLeft = (r.x / blockSize) * blockSize
                while cellLeft < r.x + r.width {
                    let left = max(cellLeft, r.x), right = min(cellLeft + blockSize, r.x + r.width)
                    for c in 0..<channels { sums[c] = 0 }
                    for row in top..<bottom {
                        for column in left..<right {
                            let base = (row * width + column) * channels
                            for c in 0..<channels { sums[c] += Int(pixels[base + c]) }
                        }
                    }
                    let count = (bottom - top) * (right - left)
                    for row in top..<bottom {
                        for column in left..<right {
                            let base = (row * width + column) * channels
                            for c in 0..<channels { pixels[base + c] = UInt8((sums[c] + count / 2) / count) }
                        }
                    }
                    cellLeft += blockSize
                }
                cellTop += blockSize
            }
        }
    }
}

import Foundation
import Tensor
import Testing
@testable import Diffusion
import TestSupport

private func pngFixture(_ name: String) -> URL {
    TestPaths.fixture("pipeline/png/\(name)")
}

/// Deterministic pseudo-random bytes (xorshift) with smooth regions so every filter wins rows.
private func testPixels(width: Int, height: Int, channels: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: width * height * channels)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<channels {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                let smooth = (x * 5 + y * 3 + c * 40) & 0xff
                bytes[(y * width + x) * channels + c] = y % 3 == 0 ? UInt8(truncatingIfNeeded: state) : UInt8(smooth)
            }
        }
    }
    return bytes
}

/// Rewrites the CRC of the chunk starting at `offset` so a test can alter a header on purpose.
private func fixCRC(_ data: inout [UInt8], chunkAt offset: Int) {
    let length = Int(data[offset]) << 24 | Int(data[offset + 1]) << 16 | Int(data[offset + 2]) << 8 | Int(data[offset + 3])
    let crc = Zlib.crc32(data[(offset + 4)..<(offset + 8 + length)])
    let end = offset + 8 + length
    data[end] = UInt8(crc >> 24); data[end + 1] = UInt8((crc >> 16) & 0xff)
    data[end + 2] = UInt8((crc >> 8) & 0xff); data[end + 3] = UInt8(crc & 0xff)
}

@Suite("PNG")
struct PNGTests {
    @Test("encode then decode returns the same pixels", arguments: [
        (1, 1, 3), (37, 23, 3), (64, 64, 3), (5, 9, 1), (17, 4, 2), (33, 7, 4),
    ])
    func roundTrip(width: Int, height: Int, channels: Int) throws {
        let image = try PixelBuffer(width: width, height: height, channels: channels,
                                    bytes: testPixels(width: width, height: height, channels: channels, seed: UInt64(width * 31 + height)))
        let decoded = try PNG.decode(try PNG.encode(image))
        #expect(decoded == image)
    }

    @Test("PNGs written by Pillow and OpenCV decode to their pixels", arguments: [
        ("pillow-rgb", "pillow-rgb", 3), ("pillow-rgba", "pillow-rgba", 4), ("pillow-gray", "pillow-gray", 1),
        ("opencv-rgb", "opencv-rgb", 3), ("pillow-palette", "pillow-palette", 3),
        // 16-bit gray written as gray × 257: the high bytes are the 8-bit gray image.
        ("opencv-gray16", "pillow-gray", 1),
    ])
    func decodesReferenceFiles(name: String, expected: String, channels: Int) throws {
        let image = try PNG.read(contentsOf: pngFixture("\(name).png"))
        let raw = try Data(contentsOf: pngFixture("\(expected).raw"))
        #expect(image.width == 37)
        #expect(image.height == 23)
        #expect(image.channels == channels)
        #expect(image.bytes == [UInt8](raw))
    }

    @Test("corrupt and truncated data are clear errors, never a crash")
    func rejectsCorrupt() throws {
        let image = try PixelBuffer(width: 20, height: 10, channels: 3, bytes: testPixels(width: 20, height: 10, channels: 3, seed: 5))
        let good = [UInt8](try PNG.encode(image))

        var badSignature = good; badSignature[1] = 0
        var badCRC = good; badCRC[20] ^= 0x40                           // inside IHDR
        var interlaced = good; interlaced[28] = 1; fixCRC(&interlaced, chunkAt: 8)   // flag without Adam7 data
        var colorType = good; colorType[25] = 5; fixCRC(&colorType, chunkAt: 8)
        var huge = good; huge[16] = 0x7f; fixCRC(&huge, chunkAt: 8)   // width ~2^31
        var tall = good; tall[23] = 11; fixCRC(&tall, chunkAt: 8)       // height 11 > data
        var corruptData = good; corruptData[41] ^= 0xff; fixCRC(&corruptData, chunkAt: 33)
        let cases: [(String, [UInt8])] = [
            ("signature", badSignature), ("crc", badCRC), ("interlaced", interlaced), ("color type", colorType),
            ("huge", huge), ("height beyond data", tall), ("corrupt zlib", corruptData),
            ("truncated", Array(good.prefix(good.count - 20))), ("empty", []),
        ]
        for (label, bytes) in cases {
            let error = #expect(throws: DiffusionError.self, "\(label)") { try PNG.decode(Data(bytes), source: "case \(label)") }
            #expect(error?.code == .invalidImage, "\(label)")
            #expect(error?.message.hasPrefix("case \(label): ") == true, "\(label): \(error?.message ?? "")")
        }
    }

    @Test("image tensors convert to 8-bit RGB as diffusers does")
    func tensorToPixels() throws {
        // (x * 0.5 + 0.5).clamp(0, 1) * 255, rounded half to even.
        let values: [Float] = [-1, -0.5, 0, 0.5, 1, 2, -3, 0.003921569, 0.5019608 * 2 - 1]
        let tensor = Tensor(shape: [1, 3, 1, 3], scalars: values)
        let image = try PixelBuffer(imageTensor: tensor)
        let expected: [UInt8] = values.map { v in
            let unit = Double(min(max(v * 0.5 + 0.5, 0), 1))
            return UInt8((Float(unit) * 255).rounded(.toNearestOrEven))
        }
        // Tensor is planar [c][x]; pixels are interleaved [x][c].
        for x in 0..<3 {
            for c in 0..<3 {
                #expect(image.bytes[x * 3 + c] == expected[c * 3 + x])
            }
        }
        #expect(image.bytes[0] == 0 && image.bytes[3 * 1 + 1] == 255)
        #expect(throws: DiffusionError.self) { try PixelBuffer(imageTensor: Tensor(shape: [3, 4, 4], scalars: .init(repeating: 0, count: 48))) }
    }
}

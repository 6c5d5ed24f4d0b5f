import Diffusion
import Foundation

/// Fuzz entry point for the PNG and JPEG decoder (`ops/fuzz/run image-decoder` and the replay
/// tests). Any bytes either decode to a consistent image (sizes within the limits, buffers
/// exactly filled, the RGB view the same size) or are refused with an `invalidImage` error
/// naming the source.
///
/// Random mutation of a PNG almost always breaks a chunk CRC, which the decoder checks first;
/// so each PNG input also runs with every CRC recomputed (`withFixedCRCs`), letting mutations
/// reach the header, palette, transparency and compressed data.
enum ImageDecoderFuzz {
    static func runBoth(_ bytes: [UInt8]) {
        run(bytes)
        if ImageDecoder.format(of: bytes) == .png {
            let fixed = withFixedCRCs(bytes)
            if fixed != bytes { run(fixed) }
        }
    }

    static func run(_ bytes: [UInt8]) {
        let data = Data(bytes)
        let image: PixelBuffer
        do {
            image = try ImageDecoder.decode(data, source: "fuzz")
        } catch let error as DiffusionError {
            precondition(error.code == .invalidImage, "unexpected error code \(error.code): \(error.message)")
            precondition(error.message.hasPrefix("fuzz: "), "an error that does not name the source: \(error.message)")
            return
        } catch {
            preconditionFailure("an error that is not a DiffusionError: \(error)")
        }
        precondition(image.width > 0 && image.height > 0 && image.width * image.height <= ImageDecoder.maximumPixels,
                     "decoded size \(image.width)x\(image.height) outside the limits")
        precondition((1...4).contains(image.channels) && image.bytes.count == image.width * image.height * image.channels,
                     "\(image.bytes.count) bytes for \(image.width)x\(image.height)x\(image.channels)")
        if ImageDecoder.format(of: bytes) == .jpeg { precondition(image.channels == 3, "a JPEG decoded to \(image.channels) channels") }
        let rgb = image.rgb()
        precondition(rgb.channels == 3 && rgb.width == image.width && rgb.height == image.height, "the RGB view changed size")
    }

    /// The PNG with each chunk's CRC recomputed, as far as its chunk lengths can be followed.
    static func withFixedCRCs(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        var offset = 8
        while offset + 12 <= out.count {
            let length = Int(out[offset]) << 24 | Int(out[offset + 1]) << 16 | Int(out[offset + 2]) << 8 | Int(out[offset + 3])
            guard length <= out.count - offset - 12 else { break }
            let end = offset + 8 + length
            let crc = crc32(out[(offset + 4)..<end])
            out[end] = UInt8(crc >> 24); out[end + 1] = UInt8((crc >> 16) & 0xff)
            out[end + 2] = UInt8((crc >> 8) & 0xff); out[end + 3] = UInt8(crc & 0xff)
            offset = end + 4
        }
        return out
    }

    /// CRC-32 (ISO-HDLC, as PNG uses), bitwise: the fuzz build has no zlib import of its own.
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

import CZlib
import Foundation

/// PNG encoding and decoding for 8-bit images (zlib through the system library).
///
/// The encoder writes non-interlaced 8-bit gray/gray+alpha/RGB/RGBA with a per-row filter
/// chosen like libpng's default heuristic (smallest sum of absolute signed bytes). The decoder
/// reads non-interlaced 8-bit gray, gray+alpha, RGB and RGBA with all five filter types, checks
/// every chunk's CRC, and rejects anything else (palette, 16-bit, interlaced, truncated or
/// corrupt data) with a `DiffusionError` saying what and where.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Largest image the decoder accepts, in pixels (guards memory against lying headers).
    public static let maximumPixels = 1 << 28

    /// Encodes `image` as a PNG file. `compressionLevel` is zlib's 0...9.
    public static func encode(_ image: PixelBuffer, compressionLevel: Int32 = 6) throws -> Data {
        let rowBytes = image.width * image.channels
        var filtered = [UInt8]()
        filtered.reserveCapacity(image.height * (rowBytes + 1))
        var previous = [UInt8](repeating: 0, count: rowBytes)
        var candidate = [UInt8](repeating: 0, count: rowBytes)
        var best = [UInt8](repeating: 0, count: rowBytes)
        image.bytes.withUnsafeBufferPointer { pixels in
            for y in 0..<image.height {
                let row = UnsafeBufferPointer(rebasing: pixels[(y * rowBytes)..<((y + 1) * rowBytes)])
                var bestType: UInt8 = 0
                var bestScore = Int.max
                for type in UInt8(0)...4 {
                    PNGFilter.apply(type, row: row, previous: previous, bytesPerPixel: image.channels, into: &candidate)
                    let score = candidate.reduce(0) { $0 + abs(Int(Int8(bitPattern: $1))) }
                    if score < bestScore {
                        bestScore = score
                        bestType = type
                        swap(&best, &candidate)
                    }
                }
                filtered.append(bestType)
                filtered.append(contentsOf: best)
                previous = Array(row)
            }
        }

        var out = Data(signature)
        var header = Data()
        header.appendBigEndian(UInt32(image.width))
        header.appendBigEndian(UInt32(image.height))
        header.append(contentsOf: [8, colorType(channels: image.channels), 0, 0, 0])
        appendChunk("IHDR", header, to: &out)
        appendChunk("IDAT", try Zlib.compress(filtered, level: compressionLevel), to: &out)
        appendChunk("IEND", Data(), to: &out)
        return out
    }

    /// Decodes a PNG file. `source` names the file (or stream) in error messages.
    public static func decode(_ data: Data, source: String = "PNG data") throws -> PixelBuffer {
        let bytes = [UInt8](data)
        func fail(_ message: String) -> DiffusionError {
            DiffusionError(.invalidImage, "\(source): \(message)")
        }
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else {
            throw fail("not a PNG file (bad signature)")
        }
        var offset = 8
        var header: (width: Int, height: Int, channels: Int)?
        var compressed = [UInt8]()
        var sawEnd = false
        while !sawEnd {
            guard offset + 12 <= bytes.count else {
                throw fail("truncated at byte \(offset): expected a chunk (missing IEND)")
            }
            let length = Int(bytes.readBigEndianUInt32(at: offset))
            let typeBytes = bytes[(offset + 4)..<(offset + 8)]
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length <= Int(Int32.max), offset + 12 + length <= bytes.count else {
                throw fail("chunk \(type) at byte \(offset) claims \(length) bytes, beyond the end of the file")
            }
            let body = bytes[(offset + 8)..<(offset + 8 + length)]
            let storedCRC = bytes.readBigEndianUInt32(at: offset + 8 + length)
            let computedCRC = Zlib.crc32(Array(typeBytes) + body)
            guard storedCRC == computedCRC else {
                throw fail("chunk \(type) at byte \(offset) has a bad CRC (stored \(String(storedCRC, radix: 16)), "
                    + "computed \(String(computedCRC, radix: 16)))")
            }
            switch type {
            case "IHDR":
                guard header == nil, length == 13 else { throw fail("malformed or repeated IHDR at byte \(offset)") }
                header = try parseHeader(Array(body), fail: fail)
            case "IDAT":
                guard header != nil else { throw fail("IDAT before IHDR at byte \(offset)") }
                compressed.append(contentsOf: body)
            case "IEND":
                sawEnd = true
            case "PLTE":
                throw fail("palette images are not supported")
            default:
                // Ancillary chunks (lowercase first letter) are skipped; unknown critical ones are not.
                if let first = typeBytes.first, first & 0x20 == 0 {
                    throw fail("unknown critical chunk \(type) at byte \(offset)")
                }
            }
            offset += 12 + length
        }
        guard let (width, height, channels) = header else { throw fail("no IHDR chunk") }
        guard !compressed.isEmpty else { throw fail("no image data (IDAT)") }
        let rowBytes = width * channels
        let expected = height * (rowBytes + 1)
        let raw: [UInt8]
        do {
            raw = try Zlib.decompress(compressed, expectedCount: expected)
        } catch let error as DiffusionError {
            throw fail("image data: \(error.message)")
        }
        var pixels = [UInt8](repeating: 0, count: height * rowBytes)
        var previous = [UInt8](repeating: 0, count: rowBytes)
        var current = [UInt8](repeating: 0, count: rowBytes)
        for y in 0..<height {
            let start = y * (rowBytes + 1)
            let type = raw[start]
            guard type <= 4 else { throw fail("row \(y) has unknown filter type \(type)") }
            for i in 0..<rowBytes { current[i] = raw[start + 1 + i] }
            PNGFilter.undo(type, row: &current, previous: previous, bytesPerPixel: channels)
            pixels.replaceSubrange((y * rowBytes)..<((y + 1) * rowBytes), with: current)
            swap(&previous, &current)
        }
        return try PixelBuffer(width: width, height: height, channels: channels, bytes: pixels)
    }

    /// Reads and encodes helpers for files.
    public static func read(contentsOf url: URL) throws -> PixelBuffer {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DiffusionError(.io, "\(url.path): cannot read (\(error.localizedDescription))")
        }
        return try decode(data, source: url.path)
    }

    /// Encodes `image` and writes it to `url` atomically.
    public static func write(_ image: PixelBuffer, to url: URL) throws {
        let data = try encode(image)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw DiffusionError(.io, "\(url.path): cannot write PNG (\(error.localizedDescription))")
        }
    }

    private static func colorType(channels: Int) -> UInt8 {
        switch channels {
        case 1: 0
        case 2: 4
        case 3: 2
        default: 6
        }
    }

    private static func parseHeader(
        _ body: [UInt8], fail: (String) -> DiffusionError
    ) throws -> (width: Int, height: Int, channels: Int) {
        let width = Int(body.readBigEndianUInt32(at: 0))
        let height = Int(body.readBigEndianUInt32(at: 4))
        let (bitDepth, colorType, compression, filter, interlace) = (body[8], body[9], body[10], body[11], body[12])
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw fail("invalid dimensions \(width)x\(height)")
        }
        guard width.multipliedReportingOverflow(by: height).partialValue <= maximumPixels,
              !width.multipliedReportingOverflow(by: height).overflow else {
            throw fail("\(width)x\(height) exceeds the \(maximumPixels)-pixel limit")
        }
        let channels: Int
        switch colorType {
        case 0: channels = 1
        case 2: channels = 3
        case 4: channels = 2
        case 6: channels = 4
        case 3: throw fail("palette images are not supported")
        default: throw fail("invalid color type \(colorType)")
        }
        guard bitDepth == 8 else { throw fail("bit depth \(bitDepth) is not supported (8 only)") }
        guard compression == 0, filter == 0 else { throw fail("unknown compression/filter method \(compression)/\(filter)") }
        guard interlace == 0 else { throw fail("interlaced (Adam7) images are not supported") }
        return (width, height, channels)
    }

    private static func appendChunk(_ type: String, _ body: Data, to out: inout Data) {
        let typeBytes = Array(type.utf8)
        out.appendBigEndian(UInt32(body.count))
        out.append(contentsOf: typeBytes)
        out.append(body)
        out.appendBigEndian(Zlib.crc32(typeBytes + [UInt8](body)))
    }
}

/// The five PNG row filters (None, Sub, Up, Average, Paeth).
enum PNGFilter {
    static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    /// Filters `row` (given the previous unfiltered row) into `out`.
    static func apply(_ type: UInt8, row: UnsafeBufferPointer<UInt8>, previous: [UInt8], bytesPerPixel bpp: Int, into out: inout [UInt8]) {
        for i in 0..<row.count {
            let left: UInt8 = i >= bpp ? row[i - bpp] : 0
            let up = previous[i]
            let upLeft: UInt8 = i >= bpp ? previous[i - bpp] : 0
            let predictor: UInt8
            switch type {
            case 0: predictor = 0
            case 1: predictor = left
            case 2: predictor = up
            case 3: predictor = UInt8((Int(left) + Int(up)) / 2)
            default: predictor = paeth(left, up, upLeft)
            }
            out[i] = row[i] &- predictor
        }
    }

    /// Reverses filter `type` in place on `row`, given the previous reconstructed row.
    static func undo(_ type: UInt8, row: inout [UInt8], previous: [UInt8], bytesPerPixel bpp: Int) {
        switch type {
        case 0:
            return
        case 1:
            for i in bpp..<max(bpp, row.count) { row[i] = row[i] &+ row[i - bpp] }
        case 2:
            for i in 0..<row.count { row[i] = row[i] &+ previous[i] }
        case 3:
            for i in 0..<row.count {
                let left = i >= bpp ? Int(row[i - bpp]) : 0
                row[i] = row[i] &+ UInt8((left + Int(previous[i])) / 2)
            }
        default:
            for i in 0..<row.count {
                let left: UInt8 = i >= bpp ? row[i - bpp] : 0
                let upLeft: UInt8 = i >= bpp ? previous[i - bpp] : 0
                row[i] = row[i] &+ paeth(left, previous[i], upLeft)
            }
        }
    }
}

/// The zlib calls the image code needs.
enum Zlib {
    static func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let array = Array(bytes)
        return array.withUnsafeBufferPointer { buffer in
            UInt32(CZlib.crc32(0, buffer.baseAddress, uInt(buffer.count)))
        }
    }

    static func compress(_ bytes: [UInt8], level: Int32) throws -> Data {
        var capacity = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(capacity))
        let status = out.withUnsafeMutableBufferPointer { dest in
            bytes.withUnsafeBufferPointer { src in
                compress2(dest.baseAddress, &capacity, src.baseAddress, uLong(src.count), level)
            }
        }
        guard status == Z_OK else {
            throw DiffusionError(.invalidImage, "zlib compression failed with status \(status)")
        }
        return Data(out[0..<Int(capacity)])
    }

    /// Inflates a zlib stream that must produce exactly `expectedCount` bytes.
    static func decompress(_ bytes: [UInt8], expectedCount: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: expectedCount)
        var produced = uLongf(expectedCount)
        let status = out.withUnsafeMutableBufferPointer { dest in
            bytes.withUnsafeBufferPointer { src in
                uncompress(dest.baseAddress, &produced, src.baseAddress, uLong(src.count))
            }
        }
        switch status {
        case Z_OK where Int(produced) == expectedCount:
            return out
        case Z_OK:
            throw DiffusionError(.invalidImage, "decompressed to \(produced) bytes, expected \(expectedCount)")
        case Z_BUF_ERROR:
            throw DiffusionError(.invalidImage, "compressed stream is truncated or longer than the \(expectedCount) bytes the header implies")
        case Z_DATA_ERROR:
            throw DiffusionError(.invalidImage, "compressed stream is corrupt")
        default:
            throw DiffusionError(.invalidImage, "zlib inflate failed with status \(status)")
        }
    }
}

fileprivate extension Data {
    mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)])
    }
}

fileprivate extension Array where Element == UInt8 {
    func readBigEndianUInt32(at offset: Int) -> UInt32 {
        (UInt32(self[offset]) << 24) | (UInt32(self[offset + 1]) << 16) | (UInt32(self[offset + 2]) << 8) | UInt32(self[offset + 3])
    }
}

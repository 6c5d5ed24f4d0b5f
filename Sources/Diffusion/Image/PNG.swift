import CZlib
import Foundation

/// PNG encoding (zlib through the system library) and decoding (libspng, via `ImageDecoder`).
///
/// The encoder writes non-interlaced 8-bit gray/gray+alpha/RGB/RGBA with a per-row filter
/// chosen like libpng's default heuristic (smallest sum of absolute signed bytes). The decoder
/// reads every PNG variant and refuses corrupt or truncated files with a `DiffusionError`
/// saying what and where.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

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

    /// Decodes a PNG file (any colour type, bit depth and interlacing) through libspng, to 8
    /// bits per channel with the file's channels; see `ImageDecoder.decode`. `source` names the
    /// file (or stream) in error messages.
    public static func decode(_ data: Data, source: String = "PNG data") throws -> PixelBuffer {
        guard ImageDecoder.format(of: data) == .png else {
            throw DiffusionError(.invalidImage, "\(source): not a PNG file (bad signature)")
        }
        return try ImageDecoder.decodePNG(data, source: source)
    }

    /// Reads and decodes a PNG file.
    public static func read(contentsOf url: URL) throws -> PixelBuffer {
        try decode(try ImageDecoder.readFile(url), source: url.path)
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
}

fileprivate extension Data {
    mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)])
    }
}

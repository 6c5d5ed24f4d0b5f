import CSpng
import CTurboJPEG
import Foundation

/// Decodes user-supplied PNG and JPEG files with maintained libraries: libspng for PNG,
/// libjpeg-turbo (its TurboJPEG API) for JPEG. Every other part of the project reads images
/// through this type; it is the only one that touches the C decoders.
///
/// Accepted: PNG of every colour type (gray, gray+alpha, palette with or without tRNS, RGB,
/// RGBA) and bit depth (1, 2, 4, 8, 16), interlaced or not; baseline and progressive JPEG in
/// grayscale, YCbCr or RGB. Refused with a `DiffusionError(.invalidImage)` naming the source and
/// the problem: anything else (CMYK JPEG, GIF, WebP, …), bad signatures and CRCs, corrupt or
/// truncated data (libjpeg's "corrupt data" warnings are errors here, not grey rows), and images
/// above `maximumPixels`.
///
/// Conversion to the 8-bit RGB the scorers take (`decodeRGB`), chosen to match how the
/// reference scorers read files (NudeNet through OpenCV's `imread`, the CLIP processors through
/// Pillow's `convert("RGB")`):
/// - alpha (an alpha channel or a tRNS key) is dropped, not composited: the colour channels are
///   scored as stored, so nothing can be hidden behind transparency;
/// - 16-bit samples keep their high byte (`v >> 8`), as OpenCV and libspng do;
/// - 1/2/4-bit gray is scaled to 8 bits by bit replication (PNG's rule: 4-bit `v` → `v × 17`);
/// - gray is replicated into R, G and B; palette indices are looked up;
/// - no gamma, colour profile or EXIF orientation is applied (pixels as stored).
public enum ImageDecoder {
    /// The container formats the decoder reads.
    public enum Format: String, Sendable {
        case png, jpeg
    }

    /// Largest image accepted, in pixels (guards memory against lying headers).
    public static let maximumPixels = 1 << 28

    /// Largest width or height accepted (libspng's own per-dimension guard uses the same).
    public static let maximumDimension = 1 << 24

    /// The format of `bytes`, from its signature; nil for anything else.
    public static func format(of bytes: some Collection<UInt8>) -> Format? {
        if bytes.starts(with: PNG.signature) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }

    /// Reads a PNG or JPEG file and converts it to 8-bit RGB (see the type's notes on alpha).
    public static func readRGB(contentsOf url: URL) throws -> PixelBuffer {
        try decodeRGB(try readFile(url), source: url.path)
    }

    /// Decodes PNG or JPEG bytes to 8-bit RGB. `source` names the file in error messages.
    public static func decodeRGB(_ data: Data, source: String) throws -> PixelBuffer {
        try decode(data, source: source).rgb()
    }

    /// Decodes PNG or JPEG bytes to 8 bits per channel, keeping the channels the file has:
    /// gray 1, gray+alpha 2, RGB 3, RGBA 4. A tRNS chunk adds an alpha channel; a palette
    /// becomes RGB (or RGBA with tRNS); JPEG is always RGB.
    public static func decode(_ data: Data, source: String) throws -> PixelBuffer {
        switch format(of: data) {
        case .png: return try decodePNG(data, source: source)
        case .jpeg: return try decodeJPEG(data, source: source)
        case nil: throw DiffusionError(.invalidImage, "\(source): \(unknownFormat(data))")
        }
    }

    static func readFile(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw DiffusionError(.io, "\(url.path): cannot read (\(error.localizedDescription))")
        }
    }

    /// Names what the bytes are when they are not PNG or JPEG.
    private static func unknownFormat(_ data: Data) -> String {
        let bytes = [UInt8](data.prefix(12))
        let known: [([UInt8], String)] = [
            (Array("GIF8".utf8), "GIF"), (Array("BM".utf8), "BMP"), ([0x49, 0x49, 0x2A, 0x00], "TIFF"),
            ([0x4D, 0x4D, 0x00, 0x2A], "TIFF"), (Array("qoif".utf8), "QOI"),
        ]
        if bytes.isEmpty { return "empty file; expected a PNG or JPEG image" }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) {
            return "WebP images are not supported; expected PNG or JPEG"
        }
        if bytes.count >= 12, Array(bytes[4..<8]) == Array("ftyp".utf8) {
            return "HEIF/AVIF images are not supported; expected PNG or JPEG"
        }
        for (signature, name) in known where bytes.starts(with: signature) {
            return "\(name) images are not supported; expected PNG or JPEG"
        }
        if bytes.starts(with: PNG.signature.prefix(bytes.count)) { return "truncated PNG signature" }
        return "not a PNG or JPEG file (starts with \(bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")))"
    }

    private static func checkSize(_ width: Int, _ height: Int, source: String) throws {
        guard width > 0, height > 0 else {
            throw DiffusionError(.invalidImage, "\(source): invalid dimensions \(width)x\(height)")
        }
        guard width <= maximumDimension, height <= maximumDimension, width * height <= maximumPixels else {
            throw DiffusionError(.invalidImage, "\(source): \(width)x\(height) exceeds the \(maximumPixels)-pixel limit")
        }
    }

    // MARK: PNG (libspng)

    static func decodePNG(_ data: Data, source: String) throws -> PixelBuffer {
        func fail(_ what: String, _ code: Int32) -> DiffusionError {
            DiffusionError(.invalidImage, "\(source): \(what): \(String(cString: spng_strerror(code)))")
        }
        guard let context = spng_ctx_new(0) else {
            throw DiffusionError(.invalidImage, "\(source): cannot create a PNG decoder")
        }
        defer { spng_ctx_free(context) }
        // Ancillary chunks (text, ICC profiles, …) are bounded too: 8 MB each, 64 MB together.
        spng_set_chunk_limits(context, 8 << 20, 64 << 20)
        spng_set_image_limits(context, UInt32(maximumDimension), UInt32(maximumDimension))
        return try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> PixelBuffer in
            var status = spng_set_png_buffer(context, buffer.baseAddress, buffer.count)
            guard status == 0 else { throw fail("not readable", status) }
            var header = spng_ihdr()
            status = spng_get_ihdr(context, &header)
            guard status == 0 else { throw fail("bad header", status) }
            let width = Int(header.width), height = Int(header.height)
            try checkSize(width, height, source: source)

            let format = Int32(SPNG_FMT_RGBA8.rawValue)
            var size = 0
            status = spng_decoded_image_size(context, format, &size)
            guard status == 0 else { throw fail("bad header", status) }
            guard size == width * height * 4 else {
                throw DiffusionError(.invalidImage, "\(source): decoder reports \(size) bytes for \(width)x\(height) RGBA")
            }
            var rgba = [UInt8](repeating: 0, count: size)
            status = rgba.withUnsafeMutableBytes {
                spng_decode_image(context, $0.baseAddress, size, format, Int32(SPNG_DECODE_TRNS.rawValue))
            }
            guard status == 0 else { throw fail("image data", status) }
            // The chunks after the image data, up to IEND: a file cut after its last IDAT is
            // truncated too, not complete.
            status = spng_decode_chunks(context)
            guard status == 0 else { throw fail("after the image data", status) }

            var transparency = spng_trns()
            let hasTRNS = spng_get_trns(context, &transparency) == 0
            let channels: Int
            switch Int32(header.color_type) {
            case Int32(SPNG_COLOR_TYPE_GRAYSCALE.rawValue): channels = hasTRNS ? 2 : 1
            case Int32(SPNG_COLOR_TYPE_GRAYSCALE_ALPHA.rawValue): channels = 2
            case Int32(SPNG_COLOR_TYPE_TRUECOLOR.rawValue), Int32(SPNG_COLOR_TYPE_INDEXED.rawValue): channels = hasTRNS ? 4 : 3
            default: channels = 4
            }
            return try PixelBuffer(width: width, height: height, channels: channels,
                                   bytes: selectChannels(rgba, pixels: width * height, channels: channels))
        }
    }

    /// Picks gray (R), gray+alpha (R, A), RGB or RGBA out of RGBA pixels.
    private static func selectChannels(_ rgba: [UInt8], pixels: Int, channels: Int) -> [UInt8] {
        if channels == 4 { return rgba }
        let picks: [Int] = switch channels {
        case 1: [0]
        case 2: [0, 3]
        default: [0, 1, 2]
        }
        var out = [UInt8](repeating: 0, count: pixels * channels)
        for p in 0..<pixels {
            for (c, source) in picks.enumerated() { out[p * channels + c] = rgba[p * 4 + source] }
        }
        return out
    }

    // MARK: JPEG (libjpeg-turbo)

    static func decodeJPEG(_ data: Data, source: String) throws -> PixelBuffer {
        guard let handle = tjInitDecompress() else {
            throw DiffusionError(.invalidImage, "\(source): cannot create a JPEG decoder")
        }
        defer { tjDestroy(handle) }
        func fail(_ what: String) -> DiffusionError {
            DiffusionError(.invalidImage, "\(source): \(what): \(String(cString: tjGetErrorStr2(handle)))")
        }
        return try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> PixelBuffer in
            let bytes = buffer.bindMemory(to: UInt8.self)
            var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
            guard tjDecompressHeader3(handle, bytes.baseAddress, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
                throw fail("bad header")
            }
            if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
                throw DiffusionError(.invalidImage, "\(source): CMYK JPEG images are not supported; expected grayscale, YCbCr or RGB")
            }
            try checkSize(Int(width), Int(height), source: source)
            var rgb = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
            // Warnings (corrupt or missing data) stop the decode; a progressive file with an
            // absurd number of scans is refused rather than decoded for minutes.
            let flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS
            let status = rgb.withUnsafeMutableBufferPointer {
                tjDecompress2(handle, bytes.baseAddress, UInt(bytes.count), $0.baseAddress, width, 0, height,
                              Int32(TJPF_RGB.rawValue), flags)
            }
            guard status == 0 else { throw fail("image data") }
            return try PixelBuffer(width: Int(width), height: Int(height), channels: 3, bytes: rgb)
        }
    }
}

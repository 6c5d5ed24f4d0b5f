import Foundation
import Testing
import TestSupport
@testable import Diffusion

/// The PNG (libspng) and JPEG (libjpeg-turbo) decoder against Pillow's decodes of the files in
/// Tests/Fixtures/images (ops/reference/make_image_fixtures.py): every PNG colour type, bit
/// depth and interlacing, baseline and progressive JPEG, and files that must be refused.
@Suite("Image decoder")
struct ImageDecoderTests {
    static let folder = TestPaths.fixture("images")

    struct Expectation: Decodable {
        var width: Int?
        var height: Int?
        var channels: Int?
        /// Largest difference allowed per 8-bit sample (0: exact).
        var tolerance: Int?
        var interlaced: Bool?
        var progressive: Bool?
    }

    static let manifest: [String: Expectation] = {
        let data = (try? Data(contentsOf: folder.appendingPathComponent("expected.json"))) ?? Data("{}".utf8)
        return (try? JSONDecoder().decode([String: Expectation].self, from: data)) ?? [:]
    }()

    static var goodFiles: [String] { manifest.keys.filter { !$0.hasPrefix("bad/") }.sorted() }
    static var badFiles: [String] { manifest.keys.filter { $0.hasPrefix("bad/") }.sorted() }

    @Test("the fixture set covers every PNG colour type, bit depth and interlacing, and both JPEG kinds")
    func coverage() {
        let names = Set(Self.goodFiles)
        for name in ["gray1", "gray2", "gray4", "gray8", "gray16", "gray-alpha8", "gray-alpha16", "palette1", "palette2",
                     "palette4", "palette8", "palette8-trns", "rgb8", "rgb16", "rgba8", "rgba16", "gray8-trns", "rgb8-trns"] {
            #expect(names.contains("\(name).png"), "missing \(name).png")
        }
        #expect(Self.manifest.values.filter { $0.interlaced == true }.count >= 8)
        #expect(Self.manifest.values.filter { $0.progressive == true }.count >= 3)
        #expect(Self.manifest.values.filter { $0.progressive == false }.count >= 4)
        #expect(Self.badFiles.count >= 10)
    }

    @Test("each fixture decodes to Pillow's RGB", arguments: goodFiles)
    func decodesLikePillow(name: String) throws {
        let expectation = try #require(Self.manifest[name])
        let image = try ImageDecoder.readRGB(contentsOf: Self.folder.appendingPathComponent(name))
        let stem = (name as NSString).deletingPathExtension
        let expected = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent("\(stem).rgb")))
        #expect(image.width == expectation.width)
        #expect(image.height == expectation.height)
        #expect(image.channels == 3)
        try #require(image.bytes.count == expected.count)
        let tolerance = expectation.tolerance ?? 0
        var worst = 0, first: Int?
        for i in 0..<expected.count {
            let difference = abs(Int(image.bytes[i]) - Int(expected[i]))
            if difference > tolerance, first == nil { first = i }
            worst = max(worst, difference)
        }
        #expect(first == nil, "\(name): sample \(first ?? 0) (pixel \((first ?? 0) / 3)) is \(first.map { image.bytes[$0] } ?? 0), Pillow \(first.map { expected[$0] } ?? 0); largest difference \(worst)")
    }

    @Test("decode keeps the file's channels (tRNS adds alpha; palettes become RGB)", arguments: goodFiles)
    func keepsChannels(name: String) throws {
        let expectation = try #require(Self.manifest[name])
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        let image = try ImageDecoder.decode(data, source: name)
        #expect(image.channels == expectation.channels)
        // The RGB view of it is what decodeRGB returns.
        #expect(image.rgb() == (try ImageDecoder.decodeRGB(data, source: name)))
    }

    @Test("16-bit alpha and colour keep their high bytes")
    func sixteenBitAlpha() throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent("rgba16.png"))
        let rgba = try ImageDecoder.decode(data, source: "rgba16.png")
        #expect(rgba.channels == 4)
        // The fixture sets the first pixel's alpha to 0; it is kept in the 4-channel decode…
        #expect(rgba.bytes[3] == 0)
        // …and dropped, not composited, in the RGB the scorers see.
        let rgb = try ImageDecoder.decodeRGB(data, source: "rgba16.png")
        #expect(Array(rgb.bytes[0..<3]) == Array(rgba.bytes[0..<3]))
    }

    @Test("corrupt, truncated and unsupported files are refused with the file named", arguments: badFiles)
    func refuses(name: String) throws {
        let url = Self.folder.appendingPathComponent(name)
        let error = #expect(throws: DiffusionError.self) { try ImageDecoder.readRGB(contentsOf: url) }
        #expect(error?.code == .invalidImage)
        #expect(error?.message.hasPrefix(url.path + ": ") == true, "\(error?.message ?? "")")
        // Something after the name says what is wrong.
        #expect((error?.message.count ?? 0) > url.path.count + 10)
    }

    @Test("the refusals say what is wrong", arguments: [
        ("bad/cmyk.jpg", "CMYK JPEG images are not supported"), ("bad/image.gif", "GIF images are not supported"),
        ("bad/empty.png", "empty file"), ("bad/bad-crc.png", "invalid chunk checksum"),
        ("bad/corrupt-data.png", "IDAT stream error"), ("bad/no-iend.png", "after the image data"),
        ("bad/truncated.png", "end of stream"), ("bad/truncated.jpg", "image data: Premature end"),
        ("bad/corrupt-scan.jpg", "Corrupt JPEG data"), ("bad/bad-signature.png", "not a PNG or JPEG file"),
    ])
    func refusalMessages(name: String, phrase: String) {
        let url = Self.folder.appendingPathComponent(name)
        let error = #expect(throws: DiffusionError.self) { try ImageDecoder.readRGB(contentsOf: url) }
        // What follows the file name, which itself may contain words like "crc".
        let reason = error?.message.dropFirst(url.path.count) ?? ""
        #expect(reason.contains(phrase), "\(error?.message ?? "")")
    }

    @Test("every prefix of a PNG and a JPEG is refused or decodes to the full image, never a crash")
    func prefixes() throws {
        for name in ["rgb8-interlaced.png", "palette4.png", "progressive-420.jpg"] {
            let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
            let full = try ImageDecoder.decodeRGB(data, source: name)
            var refused = 0
            for length in 0..<data.count {
                if let image = try? ImageDecoder.decodeRGB(data.prefix(length), source: name) {
                    // Only a cut in the trailing bytes may still decode, and then to the same pixels.
                    #expect(image == full, "\(name) cut at \(length) decodes to other pixels")
                } else {
                    refused += 1
                }
            }
            #expect(refused >= data.count - 16, "\(name): only \(refused) of \(data.count) prefixes refused")
        }
    }

    @Test("a missing file is an I/O error naming it")
    func missingFile() {
        let error = #expect(throws: DiffusionError.self) {
            try ImageDecoder.readRGB(contentsOf: URL(fileURLWithPath: "/nonexistent/image.png"))
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains("/nonexistent/image.png") == true)
    }

    @Test("headers claiming huge images are refused before any allocation")
    func hugeHeader() throws {
        var png = [UInt8](try PNG.encode(try PixelBuffer(width: 2, height: 2, channels: 3, bytes: .init(repeating: 9, count: 12))))
        // Width 2^24 x height 2^24 (within libspng's per-dimension limit, far above the pixel limit).
        png.replaceSubrange(16..<24, with: [0x01, 0, 0, 0, 0x01, 0, 0, 0])
        let crc = Zlib.crc32(png[12..<29])
        png.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8((crc >> 16) & 0xff), UInt8((crc >> 8) & 0xff), UInt8(crc & 0xff)])
        let error = #expect(throws: DiffusionError.self) { try ImageDecoder.decodeRGB(Data(png), source: "huge.png") }
        #expect(error?.message.contains("limit") == true, "\(error?.message ?? "")")
    }
}

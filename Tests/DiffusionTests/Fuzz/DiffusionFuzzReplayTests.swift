import Diffusion
import Foundation
import Testing
import TestSupport

/// Replays the committed fuzz corpora (seeds and past crashes) of the safetensors reader, the
/// CLIP tokenizer and the image decoder through the entry points the fuzzers use
/// (`ops/fuzz/run safetensors`, `ops/fuzz/run tokenizer`, `ops/fuzz/run image-decoder`).
@Suite struct DiffusionFuzzReplayTests {
    static let root = TestPaths.repositoryRoot

    static func corpus(_ target: String) throws -> [[UInt8]] {
        let folder = root.appendingPathComponent("ops/fuzz/corpus/\(target)")
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
            .map { Array(try Data(contentsOf: $0)) }
    }

    @Test func safeTensorsCorpusReplaysWithoutACrash() throws {
        let inputs = try Self.corpus("safetensors")
        #expect(inputs.count >= 5)
        for input in inputs { SafeTensorsFuzz.runBoth(input) }
    }

    /// The recipe builder must reach both sides of validation, and files with float tensors
    /// that the reader then converts; otherwise the structured half of the fuzzer explores nothing.
    @Test func structuredRecipesReachValidAndInvalidHeaders() throws {
        var generator = SplitMix64(seed: 7)
        var valid = 0, invalid = 0, validWithFloats = 0
        for _ in 0..<3000 {
            let recipe = (0..<Int(generator.next() % 96)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let file = SafeTensorsFuzz.structuredFile(from: recipe)
            #expect(file == SafeTensorsFuzz.structuredFile(from: recipe), "the builder is not a function of its recipe")
            if let header = try? file.withUnsafeBytes({ try SafeTensorsHeader(bytes: $0, source: "recipe") }) {
                valid += 1
                if header.tensors.contains(where: { $0.dtype.convertsToFloat32 && $0.elementCount > 0 }) { validWithFloats += 1 }
            } else {
                invalid += 1
            }
            SafeTensorsFuzz.run(file)
        }
        #expect(valid >= 300, "only \(valid) of 3000 recipes built a valid file")
        #expect(invalid >= 300, "only \(invalid) of 3000 recipes built an invalid file")
        #expect(validWithFloats >= 50, "only \(validWithFloats) valid files hold a non-empty float tensor")
    }

    @Test func tokenizerCorpusReplaysWithoutACrash() throws {
        let tokenizer = try TokenizerFuzz.fixture(root: Self.root)
        let inputs = try Self.corpus("tokenizer")
        #expect(inputs.count >= 5)
        for input in inputs { TokenizerFuzz.run(input, tokenizer: tokenizer) }
    }

    @Test func imageDecoderCorpusReplaysWithoutACrash() throws {
        let inputs = try Self.corpus("image-decoder")
        #expect(inputs.count >= 10)
        var decoded = 0
        for input in inputs {
            ImageDecoderFuzz.runBoth(input)
            if (try? ImageDecoder.decode(Data(input), source: "seed")) != nil { decoded += 1 }
        }
        // The seeds must reach both the decoding and the refusing paths.
        #expect(decoded >= 10 && decoded < inputs.count, "\(decoded) of \(inputs.count) seeds decode")
    }

    /// Fixing the CRCs is what lets mutations reach past the chunk checks: a PNG with its colour
    /// type changed is refused for its CRC before, and for its contents after.
    @Test func crcFixingReachesTheHeader() throws {
        var png = Array(try Data(contentsOf: Self.root.appendingPathComponent("ops/fuzz/corpus/image-decoder/rgba8.png")))
        #expect(png[25] == 6)
        png[25] = 2                                    // RGBA → RGB: the data no longer fits
        let before = #expect(throws: DiffusionError.self) { try ImageDecoder.decode(Data(png), source: "x") }
        #expect(before?.message.contains("checksum") == true, "\(before?.message ?? "")")
        let fixed = ImageDecoderFuzz.withFixedCRCs(png)
        #expect(fixed != png && fixed.count == png.count)
        let after = #expect(throws: DiffusionError.self) { try ImageDecoder.decode(Data(fixed), source: "x") }
        #expect(after?.message.contains("checksum") == false, "\(after?.message ?? "")")
        // The untouched file is left as it is.
        let good = Array(try Data(contentsOf: Self.root.appendingPathComponent("ops/fuzz/corpus/image-decoder/rgba8.png")))
        #expect(ImageDecoderFuzz.withFixedCRCs(good) == good)
    }
}

import Foundation
import Testing

/// Replays the committed fuzz corpora (seeds and past crashes) of the safetensors reader and
/// the CLIP tokenizer through the entry points the fuzzers use (`ops/fuzz/run safetensors`,
/// `ops/fuzz/run tokenizer`).
@Suite struct DiffusionFuzzReplayTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func corpus(_ target: String) throws -> [[UInt8]] {
        let folder = root.appendingPathComponent("ops/fuzz/corpus/\(target)")
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
            .map { Array(try Data(contentsOf: $0)) }
    }

    @Test func safeTensorsCorpusReplaysWithoutACrash() throws {
        let inputs = try Self.corpus("safetensors")
        #expect(inputs.count >= 5)
        for input in inputs { SafeTensorsFuzz.run(input) }
    }

    @Test func tokenizerCorpusReplaysWithoutACrash() throws {
        let tokenizer = try TokenizerFuzz.fixture(root: Self.root)
        let inputs = try Self.corpus("tokenizer")
        #expect(inputs.count >= 5)
        for input in inputs { TokenizerFuzz.run(input, tokenizer: tokenizer) }
    }
}

import Foundation
import Testing
import TestSupport

/// Replays the committed fuzz corpus (seeds and past crashes) of the ONNX reader through the
/// entry point the fuzzer uses (`ops/fuzz/run onnx`).
@Suite struct OnnxReaderFuzzReplayTests {
    static let corpus = TestPaths.repository("ops/fuzz/corpus/onnx")

    @Test func corpusReplaysWithoutACrash() throws {
        let files = try FileManager.default.contentsOfDirectory(at: Self.corpus, includingPropertiesForKeys: nil)
        #expect(files.count >= 10, "the seed corpus is in \(Self.corpus.path)")
        for file in files.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) {
            OnnxReaderFuzz.run(Array(try Data(contentsOf: file)))
        }
    }
}

import Foundation
import Testing
import TestSupport

/// Replays the committed fuzz corpus (seeds and past crashes) of the request decoder through
/// the same entry point the fuzzer uses (`ops/fuzz/run request-decoder`).
@Suite struct RequestDecoderFuzzReplayTests {
    static let corpus = TestPaths.repository("ops/fuzz/corpus/request-decoder")

    @Test func corpusReplaysWithoutACrash() throws {
        let files = try FileManager.default.contentsOfDirectory(at: Self.corpus, includingPropertiesForKeys: nil)
        #expect(files.count >= 10, "the seed corpus is in \(Self.corpus.path)")
        for file in files.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) {
            RequestDecoderFuzz.run(Array(try Data(contentsOf: file)))
        }
    }
}

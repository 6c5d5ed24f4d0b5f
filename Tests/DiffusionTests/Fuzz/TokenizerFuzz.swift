import Diffusion
import Foundation

/// Fuzz entry point for the CLIP tokenizer (`ops/fuzz/run tokenizer` and the replay tests):
/// any text, valid UTF-8 or not, tokenizes to known ids, encodes to exactly `maxLength` ids
/// framed by BOS and EOS, and decodes back without crashing.
enum TokenizerFuzz {
    static func run(_ bytes: [UInt8], tokenizer: CLIPTokenizer) {
        let text = String(decoding: bytes, as: UTF8.self)
        let vocabularySize = tokenizer.vocabulary.count
        let tokens = tokenizer.tokens(text)
        precondition(tokens.allSatisfy { (0..<vocabularySize).contains($0) }, "a token id outside the vocabulary")
        let encoded = tokenizer.encode(text)
        precondition(encoded.inputIDs.count == tokenizer.maxLength, "encoded \(encoded.inputIDs.count) ids, not \(tokenizer.maxLength)")
        precondition(encoded.inputIDs.first == tokenizer.bosTokenID, "the encoding does not start with BOS")
        precondition(encoded.inputIDs.contains(tokenizer.eosTokenID), "the encoding has no EOS")
        _ = tokenizer.decode(tokens)
    }

    /// The CLIP tokenizer fixture under `root` (the repository).
    static func fixture(root: URL) throws -> CLIPTokenizer {
        try CLIPTokenizer(folder: root.appendingPathComponent("Tests/Fixtures/tokenizer/clip"))
    }
}

import Foundation
import Testing
@testable import Diffusion

/// Regression for a fuzzing finding (`ops/fuzz/run tokenizer`): byte-level BPE re-scanned the
/// whole word after every merge, so one long word took time quadratic in its length (a 60,000-
/// letter word kept the tokenizer busy for over a minute). `Tests/Fixtures/tokenizer/long-word.txt`
/// is a 2,000-letter word (the default prompt limit; kept out of the fuzz corpus, where its length
/// would slow every mutation); the test also tokenizes a generated 60,000-letter word.
///
/// Serialized and kept small: both tests are synchronous CPU work, and on a 2-core machine two of
/// them at once would hold every thread of the test pool and starve the timing-based suites.
@Suite(.serialized) struct TokenizerLongWordTests {
    static let root = DiffusionFuzzReplayTests.root

    @Test(.timeLimit(.minutes(1)), arguments: [2000, 60000])
    func longWordTokenizesAndDecodesBack(length: Int) throws {
        let tokenizer = try TokenizerFuzz.fixture(root: Self.root)
        let text: String
        if length == 2000 {
            text = try String(contentsOf: Self.root.appendingPathComponent("Tests/Fixtures/tokenizer/long-word.txt"),
                              encoding: .utf8)
        } else {
            var generator = SplitMix64(seed: 60000)
            let letters = Array("abcdefghijklmnopqrstuvwxyz")
            text = String((0..<length).map { _ in letters[Int(generator.next() % 26)] })
        }
        #expect(text.unicodeScalars.count == length)
        let tokens = tokenizer.tokens(text)
        #expect(tokens.count > length / 30 && tokens.count < length)
        #expect(tokenizer.decode(tokens) == text)
        let encoded = tokenizer.encode(text)
        #expect(encoded.inputIDs.count == 77)
        #expect(encoded.inputIDs.first == tokenizer.bosTokenID && encoded.inputIDs.last == tokenizer.eosTokenID)
        #expect(encoded.truncation?.droppedTokenCount == tokens.count - 75)
    }

    /// The heap-based merge gives the textbook loop's ids (merge every occurrence of the
    /// lowest-ranked pair left to right, repeat) on random words over several alphabets.
    @Test func bpeMatchesTheTextbookLoop() throws {
        let folder = Self.root.appendingPathComponent("Tests/Fixtures/tokenizer/clip")
        let vocabulary = try JSONDecoder().decode([String: Int].self, from: Data(contentsOf: folder.appendingPathComponent("vocab.json")))
        let merges = try CLIPTokenizer.readMerges(folder.appendingPathComponent("merges.txt"))
        let unknown = try #require(vocabulary["<|endoftext|>"])
        let bpe = try ByteLevelBPE(vocabulary: vocabulary, merges: merges, unknownID: unknown, source: "fixture")
        var rank: [String: Int] = [:]
        for (index, pair) in merges.enumerated() where rank[pair.0 + " " + pair.1] == nil { rank[pair.0 + " " + pair.1] = index }

        func textbook(_ piece: String) -> [Int] {
            var word = piece.utf8.map { String(ByteLevelBPE.byteSymbols[Int($0)]) }
            word[word.count - 1] += ByteLevelBPE.endOfWord
            while word.count > 1 {
                var best: (rank: Int, left: String, right: String)?
                for i in 0..<(word.count - 1) {
                    if let r = rank[word[i] + " " + word[i + 1]], r < (best?.rank ?? .max) { best = (r, word[i], word[i + 1]) }
                }
                guard let best else { break }
                var merged: [String] = []
                var i = 0
                while i < word.count {
                    if i + 1 < word.count, word[i] == best.left, word[i + 1] == best.right {
                        merged.append(best.left + best.right)
                        i += 2
                    } else {
                        merged.append(word[i])
                        i += 1
                    }
                }
                word = merged
            }
            return word.map { vocabulary[$0] ?? unknown }
        }

        let alphabets = ["abcdefghijklmnopqrstuvwxyz", "aab", "a", "thequickbrownfoxjumpsoverlazydog", "éüßøжщ日本語",
                         "!?.,-_()[]{}<>|", "0123456789"].map(Array.init)
        var generator = SplitMix64(seed: 10)
        var mismatches: [String] = []
        for round in 0..<700 {
            let alphabet = alphabets[round % alphabets.count]
            let length = 1 + Int(generator.next() % 64)
            let word = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            if bpe.encode(word) != textbook(word) { mismatches.append(word) }
        }
        #expect(mismatches.isEmpty, "BPE differs from the textbook loop on \(mismatches.prefix(5))")
    }
}

import Foundation
import Testing
@testable import Diffusion
import TestSupport

/// Fixtures written by ops/reference/make_tokenizer_fixtures.py (transformers 5.23 CLIPTokenizer
/// on the original CLIP vocabulary).
private let tokenizerFixtures = TestPaths.fixture("tokenizer")

/// Loading the 49,408-token vocabulary once for all tests.
private let sharedTokenizer = Result { try CLIPTokenizer(folder: tokenizerFixtures.appendingPathComponent("clip")) }

private struct PromptFixture: Decodable {
    struct Case: Decodable {
        var prompt: String
        var tokens: [Int]
        var input_ids: [Int]
    }
    var max_length: Int
    var cases: [Case]
}

struct TokenizerTests {
    @Test("the vocabulary built from bpe_simple_vocab_16e6 has CLIP's 49,408 tokens and SD's settings")
    func vocabulary() throws {
        let tokenizer = try sharedTokenizer.get()
        #expect(tokenizer.vocabulary.count == 49408)
        #expect(tokenizer.bosTokenID == 49406)
        #expect(tokenizer.eosTokenID == 49407)
        #expect(tokenizer.padTokenID == 49407)
        #expect(tokenizer.maxLength == 77)
    }

    @Test("ids equal transformers' CLIPTokenizer for every fixture prompt (>= 1,000)")
    func matchesTransformers() throws {
        let tokenizer = try sharedTokenizer.get()
        let fixture = try JSONDecoder().decode(
            PromptFixture.self, from: Data(contentsOf: tokenizerFixtures.appendingPathComponent("prompts.json")))
        #expect(fixture.cases.count >= 1000)
        #expect(fixture.max_length == tokenizer.maxLength)
        var tokenMismatches = 0, idMismatches = 0, truncated = 0
        for (index, item) in fixture.cases.enumerated() {
            let tokens = tokenizer.tokens(item.prompt)
            if tokens != item.tokens {
                tokenMismatches += 1
                if tokenMismatches <= 5 {
                    Issue.record("case \(index) \(item.prompt.unicodeScalars.map { String($0.value, radix: 16) }): \(tokens) != \(item.tokens)")
                }
            }
            let encoded = tokenizer.encode(item.prompt)
            if encoded.inputIDs != item.input_ids { idMismatches += 1 }
            let wasCut = item.tokens.count > tokenizer.maxLength - 2
            #expect((encoded.truncation != nil) == wasCut, "case \(index)")
            if wasCut { truncated += 1 }
        }
        #expect(tokenMismatches == 0)
        #expect(idMismatches == 0)
        #expect(truncated > 10, "the fixture must exercise truncation")
    }

    @Test("encode pads with <|endoftext|> to 77 and reports truncation without printing")
    func paddingAndTruncation() throws {
        let tokenizer = try sharedTokenizer.get()
        // transformers: tokenizer("a photograph of an astronaut riding a horse").input_ids
        let short = tokenizer.encode("a photograph of an astronaut riding a horse")
        #expect(Array(short.inputIDs.prefix(10)) == [49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407])
        #expect(short.inputIDs.count == 77)
        #expect(short.inputIDs[10...].allSatisfy { $0 == 49407 })
        #expect(short.length == 10)
        #expect(short.truncation == nil)

        let empty = tokenizer.encode("")
        #expect(Array(empty.inputIDs.prefix(2)) == [49406, 49407])
        #expect(empty.length == 2)

        let long = tokenizer.encode(Array(repeating: "horse", count: 80).joined(separator: " "))
        #expect(long.inputIDs.count == 77)
        #expect(long.inputIDs.first == 49406 && long.inputIDs.last == 49407)
        let cut = try #require(long.truncation)
        #expect(cut.keptTokenCount == 75)
        #expect(cut.droppedTokenCount == 5)
        #expect(cut.droppedText == "horse horse horse horse horse")
        #expect(!cut.description.contains("horse"), "the warning text must not echo the prompt")
    }

    @Test("decode inverts encode for plain text")
    func decode() throws {
        let tokenizer = try sharedTokenizer.get()
        let text = "crème brûlée, 東京 and 😀 at 8k!"
        #expect(tokenizer.decode(tokenizer.tokens(text)) == "crème brûlée , 東京 and 😀 at 8 k !")
    }

    @Test("a folder with a bad merges file is a clear error")
    func badMerges() throws {
        let scratch = try ScratchDirectory()
        try Data(#"{"a":0,"b":1,"<|startoftext|>":2,"<|endoftext|>":3}"#.utf8)
            .write(to: scratch.url.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\na b\nb c d\n".utf8).write(to: scratch.url.appendingPathComponent("merges.txt"))
        let error = #expect(throws: DiffusionError.self) { try CLIPTokenizer(folder: scratch.url) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains("merges.txt") == true)
    }
}

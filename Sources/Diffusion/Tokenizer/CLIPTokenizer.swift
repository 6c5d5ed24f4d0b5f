import Foundation

/// CLIP's BPE tokenizer, matching transformers' `CLIPTokenizer` id for id.
///
/// `encode(_:)` gives what Stable Diffusion pipelines feed the text encoder:
/// `<|startoftext|>`, at most `maxLength - 2` prompt tokens, `<|endoftext|>`, then the pad token
/// up to `maxLength` (77). A prompt that had to be cut is reported in `truncation`, never printed.
/// Load one from a diffusers `tokenizer/` folder with `CLIPTokenizer(folder:)`.
public struct CLIPTokenizer: Sendable {
    /// Token string → id.
    public let vocabulary: [String: Int]
    /// Sequence length after padding/truncation (`model_max_length`, 77 for SD 1.x).
    public let maxLength: Int
    public let bosTokenID: Int
    public let eosTokenID: Int
    public let padTokenID: Int
    public let unknownTokenID: Int

    private let bpe: ByteLevelBPE
    private let idToToken: [Int: String]
    /// Special token literals matched in the raw text before normalisation, longest first.
    private let specialTokens: [(scalars: [Unicode.Scalar], id: Int)]

    /// Special token names as configured (content strings).
    public struct SpecialTokens: Sendable, Equatable {
        public var bos = "<|startoftext|>"
        public var eos = "<|endoftext|>"
        public var pad = "<|endoftext|>"
        public var unknown = "<|endoftext|>"
        public init() {}
    }

    /// A tokenizer from an explicit vocabulary and merge list (rank = list position).
    ///
    /// - Parameter source: names the files in error messages.
    public init(vocabulary: [String: Int], merges: [(String, String)], specialTokens: SpecialTokens = .init(),
                maxLength: Int = 77, source: String = "tokenizer") throws {
        func id(_ token: String, _ role: String) throws -> Int {
            guard let id = vocabulary[token] else {
                throw DiffusionError(.invalidConfig, "\(source): \(role) token '\(token)' is not in the vocabulary")
            }
            return id
        }
        guard maxLength >= 2 else {
            throw DiffusionError(.invalidConfig, "\(source): model_max_length \(maxLength) leaves no room for start/end tokens")
        }
        self.vocabulary = vocabulary
        self.maxLength = maxLength
        bosTokenID = try id(specialTokens.bos, "bos")
        eosTokenID = try id(specialTokens.eos, "eos")
        padTokenID = try id(specialTokens.pad, "pad")
        unknownTokenID = try id(specialTokens.unknown, "unk")
        bpe = try ByteLevelBPE(vocabulary: vocabulary, merges: merges, unknownID: unknownTokenID, source: source)
        idToToken = Dictionary(vocabulary.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        let specials = Set([specialTokens.bos, specialTokens.eos, specialTokens.pad, specialTokens.unknown])
        self.specialTokens = specials
            .map { (Array($0.unicodeScalars), vocabulary[$0]!) }
            .sorted { $0.0.count > $1.0.count || ($0.0.count == $1.0.count && $0.1 < $1.1) }
    }

    /// Token ids of `text` without start/end tokens, padding or truncation.
    public func tokens(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in splitSpecialTokens(text) {
            switch segment {
            case .special(let id):
                ids.append(id)
            case .text(let chunk):
                for piece in CLIPTextSplitter.pieces(chunk) { ids.append(contentsOf: bpe.encode(piece)) }
            }
        }
        return ids
    }

    /// Model input for `text`: start token, prompt tokens (cut to fit), end token, padding.
    public func encode(_ text: String) -> CLIPTokenization {
        let all = tokens(text)
        let room = maxLength - 2
        let kept = all.prefix(room)
        var ids = [bosTokenID] + kept + [eosTokenID]
        let length = ids.count
        ids += [Int](repeating: padTokenID, count: maxLength - ids.count)
        var truncation: CLIPTokenization.Truncation?
        if all.count > room {
            let dropped = Array(all[room...])
            truncation = .init(keptTokenCount: room, droppedTokenCount: dropped.count, droppedText: decode(dropped))
        }
        return CLIPTokenization(inputIDs: ids, length: length, truncation: truncation)
    }

    /// Text for `ids` (end-of-word markers become spaces; bytes that do not form UTF-8 are replaced).
    public func decode(_ ids: [Int]) -> String {
        var text = ""
        for id in ids { text += idToToken[id] ?? "" }
        text = text.replacingOccurrences(of: ByteLevelBPE.endOfWord, with: " ")
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            if let byte = Self.symbolToByte[scalar] {
                bytes.append(byte)
            } else {
                bytes.append(contentsOf: Array(String(scalar).utf8))
            }
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    private static let symbolToByte: [Unicode.Scalar: UInt8] = Dictionary(
        uniqueKeysWithValues: ByteLevelBPE.byteSymbols.enumerated().map { ($0.element, UInt8($0.offset)) })

    private enum Segment {
        case special(Int)
        case text(String)
    }

    /// Splits out special-token literals exactly as written (before normalisation).
    private func splitSpecialTokens(_ text: String) -> [Segment] {
        let scalars = Array(text.unicodeScalars)
        var segments: [Segment] = []
        var pending = String.UnicodeScalarView()
        var i = 0
        outer: while i < scalars.count {
            if scalars[i] == "<" {
                for special in specialTokens where CLIPTextSplitter.hasLiteral(scalars, at: i, special.scalars) {
                    if !pending.isEmpty {
                        segments.append(.text(String(pending)))
                        pending = String.UnicodeScalarView()
                    }
                    segments.append(.special(special.id))
                    i += special.scalars.count
                    continue outer
                }
            }
            pending.append(scalars[i])
            i += 1
        }
        if !pending.isEmpty { segments.append(.text(String(pending))) }
        return segments
    }
}

/// The tokenizer's output for one prompt.
public struct CLIPTokenization: Sendable, Equatable {
    /// Exactly `maxLength` ids: start, prompt tokens, end, padding.
    public var inputIDs: [Int]
    /// Ids before padding (start and end included).
    public var length: Int
    /// Set when the prompt had more tokens than fit.
    public var truncation: Truncation?

    /// A prompt was cut to fit the encoder's window.
    public struct Truncation: Sendable, Equatable, CustomStringConvertible {
        public var keptTokenCount: Int
        public var droppedTokenCount: Int
        /// The dropped part, decoded (prompt text: keep it out of logs unless allowed).
        public var droppedText: String

        public var description: String {
            "prompt truncated: \(droppedTokenCount) tokens beyond the first \(keptTokenCount) were dropped"
        }
    }
}

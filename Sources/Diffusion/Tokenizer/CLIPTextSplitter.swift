import Foundation

/// CLIP's text normalisation and pre-tokenisation, as transformers' `CLIPTokenizer` (backed by
/// the `tokenizers` library) performs them:
///
/// 1. normalise: Unicode NFC, every run of white space (Unicode `White_Space`) to one space,
///    then lower-case each scalar with its full lower-case mapping (no context rules);
/// 2. split with CLIP's pattern
///    `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
///    keeping the matches and dropping white space;
/// 3. split each piece again with the byte-level (GPT-2) pattern, which only changes the
///    special-token literals (`<|endoftext|>` becomes `<|`, `endoftext`, `|>`).
///
/// ftfy's `fix_text` and HTML unescaping, which OpenAI's original tokenizer applies, are not
/// part of this pipeline, as they are not part of transformers' either.
enum CLIPTextSplitter {
    static let specialLiterals: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }

    /// Steps 1–3: the pieces that byte-level BPE encodes, in order.
    static func pieces(_ text: String) -> [String] {
        let normalized = normalize(text)
        var result: [String] = []
        for piece in clipSplit(normalized) {
            result.append(contentsOf: byteLevelSplit(piece))
        }
        return result
    }

    /// NFC, white-space runs to one space, per-scalar full lower-case mapping.
    static func normalize(_ text: String) -> [Unicode.Scalar] {
        let composed = text.precomposedStringWithCanonicalMapping
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(composed.unicodeScalars.count)
        var inSpace = false
        for scalar in composed.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            if scalar.properties.changesWhenLowercased {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return out
    }

    enum Class { case space, letter, number, other }

    @inline(__always)
    static func classify(_ scalar: Unicode.Scalar) -> Class {
        if scalar.properties.isWhitespace { return .space }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Length of a contraction (`'s 't 're 've 'm 'll 'd`) starting at `i`, or 0.
    static func contractionLength(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        guard s[i] == "'", i + 1 < s.count else { return 0 }
        switch s[i + 1] {
        case "s", "t", "m", "d": return 2
        case "r", "v":
            return i + 2 < s.count && s[i + 2] == "e" ? 3 : 0
        case "l":
            return i + 2 < s.count && s[i + 2] == "l" ? 3 : 0
        default: return 0
        }
    }

    static func hasLiteral(_ s: [Unicode.Scalar], at i: Int, _ literal: [Unicode.Scalar]) -> Bool {
        guard i + literal.count <= s.count else { return false }
        for k in 0..<literal.count where s[i + k] != literal[k] { return false }
        return true
    }

    /// Step 2: CLIP's split pattern (leftmost alternative wins at each position).
    static func clipSplit(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var pieces: [[Unicode.Scalar]] = []
        var i = 0
        while i < s.count {
            let kind = classify(s[i])
            if kind == .space {
                i += 1
                continue
            }
            var end = i + 1
            if let literal = specialLiterals.first(where: { hasLiteral(s, at: i, $0) }) {
                end = i + literal.count
            } else if case let n = contractionLength(s, i), n > 0 {
                end = i + n
            } else if kind == .letter {
                while end < s.count, classify(s[end]) == .letter { end += 1 }
            } else if kind == .number {
                end = i + 1
            } else {
                while end < s.count, classify(s[end]) == .other { end += 1 }
            }
            pieces.append(Array(s[i..<end]))
            i = end
        }
        return pieces
    }

    /// Step 3: the byte-level pre-tokenizer's GPT-2 pattern on a piece without white space:
    /// `'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}+|[^\s\p{L}\p{N}]+`.
    static func byteLevelSplit(_ s: [Unicode.Scalar]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < s.count {
            var end = i + 1
            if case let n = contractionLength(s, i), n > 0 {
                end = i + n
            } else {
                let kind = classify(s[i])
                while end < s.count, classify(s[end]) == kind { end += 1 }
            }
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: s[i..<end])
            out.append(String(piece))
            i = end
        }
        return out
    }
}

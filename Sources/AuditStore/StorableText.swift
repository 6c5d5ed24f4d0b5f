/// Makes text storable in PostgreSQL without losing sight of what it held.
///
/// `text` columns cannot hold U+0000, and `jsonb` refuses the escape `\u0000` and unpaired
/// surrogate escapes (`\ud800` alone). A value that came from a request may contain either;
/// the audit row of such a request must still be written. These functions replace exactly
/// those characters with U+FFFD and report whether they did, so the row can say so (the
/// request's exact bytes stay in `raw_request`, a `bytea`).
public enum StorableText {
    /// `text` with every U+0000 replaced by U+FFFD.
    public static func text(_ text: String) -> (text: String, changed: Bool) {
        guard text.utf8.contains(0) else { return (text, false) }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(scalar.value == 0 ? "\u{FFFD}" : scalar)
        }
        return (String(scalars), true)
    }

    /// JSON text with raw U+0000, the escape `\u0000` and unpaired surrogate escapes replaced by
    /// `\ufffd`; the document's structure is untouched (escaped backslashes are honoured).
    public static func json(_ json: String) -> (json: String, changed: Bool) {
        let bytes = Array(json.utf8)
        guard bytes.contains(0) || bytes.contains(UInt8(ascii: "\\")) else { return (json, false) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var changed = false
        let replacement = Array("\\ufffd".utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0 {
                out += replacement
                changed = true
                index += 1
                continue
            }
            guard byte == UInt8(ascii: "\\"), index + 1 < bytes.count else {
                out.append(byte)
                index += 1
                continue
            }
            guard bytes[index + 1] == UInt8(ascii: "u"), let unit = hexUnit(bytes, at: index + 2) else {
                out += bytes[index...index + 1]  // any other escape, kept as it is
                index += 2
                continue
            }
            if unit == 0 {
                out += replacement
                changed = true
                index += 6
            } else if (0xD800...0xDBFF).contains(unit) {
                if index + 7 < bytes.count, bytes[index + 6] == UInt8(ascii: "\\"), bytes[index + 7] == UInt8(ascii: "u"),
                   let low = hexUnit(bytes, at: index + 8), (0xDC00...0xDFFF).contains(low) {
                    out += bytes[index..<index + 12]
                    index += 12
                } else {
                    out += replacement
                    changed = true
                    index += 6
                }
            } else if (0xDC00...0xDFFF).contains(unit) {
                out += replacement
                changed = true
                index += 6
            } else {
                out += bytes[index..<index + 6]
                index += 6
            }
        }
        return changed ? (String(decoding: out, as: UTF8.self), true) : (json, false)
    }

    private static func hexUnit(_ bytes: [UInt8], at start: Int) -> UInt16? {
        guard start + 4 <= bytes.count else { return nil }
        var value: UInt16 = 0
        for byte in bytes[start..<start + 4] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }
}

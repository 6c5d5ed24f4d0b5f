/// Byte-level BPE with an end-of-word suffix, as CLIP uses it: a piece's UTF-8 bytes map to
/// printable symbols (GPT-2's byte table), `</w>` is appended to the last symbol, then the
/// adjacent pair with the lowest merge rank is merged everywhere, repeatedly, until no pair
/// has a rank.
struct ByteLevelBPE: Sendable {
    /// GPT-2's reversible byte → symbol table: printable Latin-1 bytes map to themselves, the
    /// rest to U+0100 upwards in byte order.
    static let byteSymbols: [Unicode.Scalar] = {
        var printable = Array(UInt32(33)...126) + Array(UInt32(161)...172) + Array(UInt32(174)...255)
        var symbols = [UInt32](repeating: 0, count: 256)
        for b in printable { symbols[Int(b)] = b }
        var next: UInt32 = 256
        for b in 0..<256 where !printable.contains(UInt32(b)) {
            symbols[b] = next
            printable.append(UInt32(b))
            next += 1
        }
        return symbols.map { Unicode.Scalar($0)! }
    }()

    static let endOfWord = "</w>"

    private let byteID: [Int32]
    private let byteEndID: [Int32]
    /// (left id << 32 | right id) → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, id: Int32)]
    private let unknownID: Int32

    /// Builds the tables; throws when a merge or byte symbol is missing from the vocabulary.
    init(vocabulary: [String: Int], merges pairs: [(String, String)], unknownID: Int, source: String) throws {
        var byteID = [Int32](repeating: Int32(unknownID), count: 256)
        var byteEndID = [Int32](repeating: Int32(unknownID), count: 256)
        for b in 0..<256 {
            let symbol = String(Self.byteSymbols[b])
            if let id = vocabulary[symbol] { byteID[b] = Int32(id) }
            if let id = vocabulary[symbol + Self.endOfWord] { byteEndID[b] = Int32(id) }
        }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(pairs.count)
        for (rank, pair) in pairs.enumerated() {
            guard let a = vocabulary[pair.0], let b = vocabulary[pair.1], let merged = vocabulary[pair.0 + pair.1] else {
                throw DiffusionError(.invalidConfig,
                    "\(source): merge \(rank + 1) ('\(pair.0)' '\(pair.1)') uses a token missing from the vocabulary")
            }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if table[key] == nil { table[key] = (Int32(rank), Int32(merged)) }
        }
        self.byteID = byteID
        self.byteEndID = byteEndID
        self.merges = table
        self.unknownID = Int32(unknownID)
    }

    /// Token ids of one pre-tokenized piece.
    func encode(_ piece: String) -> [Int] {
        let bytes = Array(piece.utf8)
        guard !bytes.isEmpty else { return [] }
        var word = bytes.dropLast().map { byteID[Int($0)] }
        word.append(byteEndID[Int(bytes.last!)])
        while word.count > 1 {
            var best: (rank: Int32, id: Int32, left: Int32, right: Int32)?
            for i in 0..<(word.count - 1) {
                if let merge = merges[key(word[i], word[i + 1])], merge.rank < (best?.rank ?? .max) {
                    best = (merge.rank, merge.id, word[i], word[i + 1])
                }
            }
            guard let best else { break }
            var merged: [Int32] = []
            merged.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i + 1 < word.count, word[i] == best.left, word[i + 1] == best.right {
                    merged.append(best.id)
                    i += 2
                } else {
                    merged.append(word[i])
                    i += 1
                }
            }
            word = merged
        }
        return word.map(Int.init)
    }

    @inline(__always)
    private func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
}

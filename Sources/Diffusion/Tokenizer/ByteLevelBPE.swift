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
    ///
    /// The result is the textbook loop's (merge every occurrence of the lowest-ranked adjacent
    /// pair, left to right, until no pair has a rank), computed in O(n log n) rather than O(n²):
    /// the symbols form a linked list and a heap holds the candidate pairs by (rank, position),
    /// so one long word in a prompt cannot keep the worker busy for minutes.
    func encode(_ piece: String) -> [Int] {
        let bytes = Array(piece.utf8)
        guard !bytes.isEmpty else { return [] }
        let n = bytes.count
        var symbol = bytes.dropLast().map { byteID[Int($0)] }
        symbol.append(byteEndID[Int(bytes.last!)])
        // Linked list over the positions; `n` marks the end, -1 the start.
        var next = Array(1...n)
        var previous = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        // The pass in which a position took part in a merge (the textbook loop reads each pass
        // from the word as it was before the pass, so a merged symbol waits for the next pass).
        var mergedInPass = [Int](repeating: 0, count: n)
        var heap = MinHeap()

        func rank(at i: Int) -> Int32? {
            guard i >= 0, alive[i], next[i] < n else { return nil }
            return merges[key(symbol[i], symbol[next[i]])]?.rank
        }
        func push(_ i: Int) {
            if let rank = rank(at: i) { heap.push(UInt64(UInt32(rank)) << 32 | UInt64(UInt32(i))) }
        }
        for i in 0..<(n - 1) { push(i) }

        var pass = 0
        var batch: [Int] = []
        while let top = heap.pop() {
            let best = Int32(truncatingIfNeeded: top >> 32)
            // Entries go stale when a neighbour merges; a pair's rank names the pair (one rank
            // per merge), so an entry whose position still holds a pair of its rank is current.
            guard rank(at: Int(top & 0xFFFF_FFFF)) == best else { continue }
            batch.removeAll(keepingCapacity: true)
            batch.append(Int(top & 0xFFFF_FFFF))
            while let peek = heap.peek(), Int32(truncatingIfNeeded: peek >> 32) == best {
                _ = heap.pop()
                if rank(at: Int(peek & 0xFFFF_FFFF)) == best { batch.append(Int(peek & 0xFFFF_FFFF)) }
            }
            let merged = merges[key(symbol[batch[0]], symbol[next[batch[0]]])]!.id
            pass += 1
            // Left to right (the heap orders equal ranks by position), never reusing a symbol
            // merged in this pass: the textbook loop's scan.
            for i in batch where alive[i] && mergedInPass[i] != pass {
                let j = next[i]
                guard j < n, mergedInPass[j] != pass else { continue }
                symbol[i] = merged
                mergedInPass[i] = pass
                alive[j] = false
                next[i] = next[j]
                if next[j] < n { previous[next[j]] = i }
                push(previous[i])
                push(i)
            }
        }
        var ids: [Int] = []
        var i = 0
        while i < n {
            ids.append(Int(symbol[i]))
            i = next[i]
        }
        return ids
    }

    /// A binary min-heap of `rank << 32 | position` keys.
    private struct MinHeap {
        private var items: [UInt64] = []

        func peek() -> UInt64? { items.first }

        mutating func push(_ item: UInt64) {
            items.append(item)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child] < items[parent] else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> UInt64? {
            guard let first = items.first else { return nil }
            let last = items.removeLast()
            guard !items.isEmpty else { return first }
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count, items[left] < items[smallest] { smallest = left }
                if right < items.count, items[right] < items[smallest] { smallest = right }
                guard smallest != parent else { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
            return first
        }
    }

    @inline(__always)
    private func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
}

/// The merge ranks of a BPE vocabulary: an open-addressing hash table from a pair of token ids to the
/// pair's rank (its line in the merges list) and the id of the merged token.
struct MergeTable: Sendable {
    private static let emptyKey = UInt64.max
    private var keys: [UInt64]
    private var values: [UInt64]
    private let shift: UInt64
    private(set) var count = 0

    /// An empty table sized for `capacity` pairs at a load factor of at most one half.
    init(capacity: Int) {
        var bits: UInt64 = 4
        while (1 << bits) < capacity * 2 { bits += 1 }
        keys = [UInt64](repeating: Self.emptyKey, count: 1 << bits)
        values = [UInt64](repeating: 0, count: 1 << bits)
        shift = 64 - bits
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private func slot(for key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Adds or replaces a pair (a later line of the merges list wins, as in `tokenizers`).
    mutating func insert(left: Int32, right: Int32, rank: UInt32, merged: Int32) {
        let key = Self.key(left, right)
        let mask = keys.count - 1
        var index = slot(for: key)
        while keys[index] != Self.emptyKey, keys[index] != key { index = (index + 1) & mask }
        if keys[index] == Self.emptyKey { count += 1 }
        keys[index] = key
        values[index] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// `rank << 32 | merged id` for the pair, or `nil` if the pair never merges.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
        let key = Self.key(left, right)
        let mask = keys.count - 1
        var index = slot(for: key)
        while true {
            let found = keys[index]
            if found == key { return values[index] }
            if found == Self.emptyKey { return nil }
            index = (index + 1) & mask
        }
    }
}

/// Reusable buffers for merging the words of one `encode` call, and its word cache.
struct MergeScratch {
    var symbols: [Int32] = []
    var previous: [Int32] = []
    var next: [Int32] = []
    var heap = MinHeap<UInt64>()
    var cache: [[UInt8]: [Int32]] = [:]

    /// Words longer than this are not cached (they are rare and would make the cache large).
    static let maxCachedWordLength = 64
}

/// How a word's bytes become the symbols that merging starts from.
enum InitialSymbols: Sendable {
    /// Byte-level BPE: one symbol per byte, the id of its GPT-2 byte-level spelling (-1 if the vocabulary
    /// lacks it).
    case byteLevel([Int32])
    /// Character BPE (SentencePiece-style vocabularies in `tokenizer.json`): one symbol per UTF-8 character
    /// in the vocabulary; a character that is not becomes its `<0xNN>` byte tokens when `byteFallback` is set
    /// and all exist, else the unknown token (consecutive ones fused into one when `fuseUnknown`), as
    /// `BPE::merge_word` of `tokenizers` does.
    case characters(TokenTable, byteFallback: [Int32]?, fuseUnknown: Bool)
}

/// BPE over one word: the word becomes symbols (``InitialSymbols``), then the lowest-ranked adjacent pair is
/// merged until none can be (ties go to the leftmost pair), exactly as the `Word::merge_all` priority queue
/// of `tokenizers` does.
struct BytePairModel: Sendable {
    let symbols: InitialSymbols
    let merges: MergeTable
    /// With `ignore_merges`, words that are whole vocabulary entries (by bytes) map directly to their id.
    let wholeWords: [[UInt8]: Int32]?
    /// Stands for a byte (or character) that has no token; such bytes are dropped when `nil` (as in `tokenizers`).
    let unknownID: Int32?

    /// Appends the ids of the word `bytes[range]` to `ids`.
    func encodeWord(
        _ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, scratch: inout MergeScratch, into ids: inout [Int32]
    ) {
        if range.count == 1, case let .byteLevel(symbolForByte) = symbols {
            appendSymbol(symbolForByte[Int(bytes[range.lowerBound])], to: &ids)
            return
        }
        let word = UnsafeBufferPointer(rebasing: bytes[range])
        let cacheable = range.count <= MergeScratch.maxCachedWordLength
        var key: [UInt8] = []
        if cacheable || wholeWords != nil {
            key = Array(word)
            if let cached = scratch.cache[key] {
                ids.append(contentsOf: cached)
                return
            }
        }
        let start = ids.count
        if let wholeWords, let id = wholeWords[key] {
            ids.append(id)
        } else {
            merge(word, scratch: &scratch, into: &ids)
        }
        if cacheable { scratch.cache[key] = Array(ids[start...]) }
    }

    @inline(__always)
    private func appendSymbol(_ id: Int32, to ids: inout [Int32]) {
        if id >= 0 {
            ids.append(id)
        } else if let unknownID {
            ids.append(unknownID)
        }
    }

    /// The starting symbols of a word.
    private func split(_ word: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        switch symbols {
        case let .byteLevel(symbolForByte):
            for byte in word { appendSymbol(symbolForByte[Int(byte)], to: &output) }
        case let .characters(table, byteFallback, fuseUnknown):
            var pendingUnknown = false
            var index = 0
            while index < word.count {
                let length = min(ValidUTF8.sequenceLength(lead: word[index]), word.count - index)
                let character = UnsafeBufferPointer(rebasing: word[index..<(index + length)])
                index += length
                if let id = table.id(character) {
                    if pendingUnknown, let unknownID { output.append(unknownID) }
                    pendingUnknown = false
                    output.append(id)
                    continue
                }
                if let byteFallback, character.allSatisfy({ byteFallback[Int($0)] >= 0 }) {
                    // As in `tokenizers`, a pending unknown token is only written after the next known character.
                    for byte in character { output.append(byteFallback[Int(byte)]) }
                    continue
                }
                guard let unknownID else { continue }
                if pendingUnknown, !fuseUnknown { output.append(unknownID) }
                pendingUnknown = true
            }
            if pendingUnknown, let unknownID { output.append(unknownID) }
        }
    }

    private func merge(_ word: UnsafeBufferPointer<UInt8>, scratch: inout MergeScratch, into ids: inout [Int32]) {
        scratch.symbols.removeAll(keepingCapacity: true)
        split(word, into: &scratch.symbols)
        let count = scratch.symbols.count
        guard count > 1 else {
            ids.append(contentsOf: scratch.symbols)
            return
        }
        scratch.previous.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.heap.removeAll()
        for index in 0..<count {
            scratch.previous.append(Int32(index - 1))
            scratch.next.append(index + 1 < count ? Int32(index + 1) : -1)
            if index + 1 < count, let found = merges.lookup(scratch.symbols[index], scratch.symbols[index + 1]) {
                scratch.heap.push(found & 0xFFFF_FFFF_0000_0000 | UInt64(index))
            }
        }
        while let top = scratch.heap.pop() {
            let position = Int(top & 0xFFFF_FFFF)
            let left = scratch.symbols[position]
            let right = Int(scratch.next[position])
            // Skip entries made stale by an earlier merge: the left symbol merged away, no right neighbour,
            // or a pair that changed since the entry was pushed.
            guard left >= 0, right >= 0, let found = merges.lookup(left, scratch.symbols[right]),
                found >> 32 == top >> 32
            else { continue }
            scratch.symbols[position] = Int32(truncatingIfNeeded: found & 0xFFFF_FFFF)
            scratch.symbols[right] = -1
            let after = scratch.next[right]
            scratch.next[position] = after
            if after >= 0 { scratch.previous[Int(after)] = Int32(position) }
            let before = scratch.previous[position]
            if before >= 0, let pair = merges.lookup(scratch.symbols[Int(before)], scratch.symbols[position]) {
                scratch.heap.push(pair & 0xFFFF_FFFF_0000_0000 | UInt64(before))
            }
            if after >= 0, let pair = merges.lookup(scratch.symbols[position], scratch.symbols[Int(after)]) {
                scratch.heap.push(pair & 0xFFFF_FFFF_0000_0000 | UInt64(position))
            }
        }
        var index = 0
        while index >= 0 {
            ids.append(scratch.symbols[index])
            index = Int(scratch.next[index])
        }
    }
}

/// A binary min-heap: byte-pair merging keeps `rank << 32 | position` keys (the lowest rank first, then the
/// leftmost position), SentencePiece merging its bigrams.
struct MinHeap<Element: Comparable> {
    private var storage: [Element] = []

    mutating func removeAll() { storage.removeAll(keepingCapacity: true) }

    mutating func push(_ value: Element) {
        storage.append(value)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[parent] > storage[child] else { break }
            storage.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard let last = storage.popLast() else { return nil }
        guard !storage.isEmpty else { return last }
        let top = storage[0]
        storage[0] = last
        var parent = 0
        let count = storage.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let smallest = right < count && storage[right] < storage[left] ? right : left
            guard storage[smallest] < storage[parent] else { break }
            storage.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

extension MergeTable {
    /// The merge table of `merges` (highest priority first) over a vocabulary given by its lookup.
    /// - Throws: ``TokenizationError/invalidVocabulary(_:)`` for a merge of or into a token that is not in it.
    init(_ merges: [(Substring, Substring)], lookup: (String) -> Int32?) throws(TokenizationError) {
        self.init(capacity: merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let leftID = lookup(String(left)), let rightID = lookup(String(right)),
                let mergedID = lookup(String(left) + String(right))
            else {
                throw .invalidVocabulary(
                    "merge #\(rank) \"\(left) \(right)\" uses or produces a token that is not in the vocabulary")
            }
            insert(left: leftID, right: rightID, rank: UInt32(rank), merged: mergedID)
        }
    }
}

extension BytePairModel {
    /// Byte-level BPE over a vocabulary in GPT-2 byte-level spelling.
    init(
        byteLevelVocabulary vocabulary: [String: Int32], merges: [(Substring, Substring)], ignoreMerges: Bool,
        unknownID: Int32?
    ) throws(TokenizationError) {
        var wholeWords: [[UInt8]: Int32]? = nil
        if ignoreMerges {
            var words: [[UInt8]: Int32] = [:]
            words.reserveCapacity(vocabulary.count)
            for (token, id) in vocabulary {
                if let bytes = ByteLevel.strictDecode(token) { words[bytes] = id }
            }
            wholeWords = words
        }
        let symbolForByte = ByteLevel.scalarForByte.map { scalar in
            vocabulary[String(Character(Unicode.Scalar(scalar) ?? "?"))] ?? -1
        }
        self.init(
            symbols: .byteLevel(symbolForByte), merges: try MergeTable(merges) { vocabulary[$0] },
            wholeWords: wholeWords, unknownID: unknownID)
    }

    /// Character BPE over a vocabulary spelled in UTF-8 (`▁` for spaces, `<0xNN>` byte tokens), looked up by
    /// exact bytes (a `String`-keyed dictionary would merge canonically equivalent tokens such as "ί" and "ί").
    /// - Parameter tokens: the vocabulary by id ("" where an id has no entry).
    init(
        characterVocabulary tokens: [String], merges: [(Substring, Substring)], ignoreMerges: Bool,
        byteFallback: Bool, fuseUnknown: Bool, unknownID: Int32?
    ) throws(TokenizationError) {
        let table = TokenTable(tokens)
        var wholeWords: [[UInt8]: Int32]? = nil
        if ignoreMerges {
            var words: [[UInt8]: Int32] = [:]
            words.reserveCapacity(tokens.count)
            for (id, token) in tokens.enumerated().reversed() where !token.isEmpty { words[Array(token.utf8)] = Int32(id) }
            wholeWords = words
        }
        let fallback = byteFallback ? (0..<256).map { table.id(byteTokenName(UInt8($0))) ?? -1 } : nil
        self.init(
            symbols: .characters(table, byteFallback: fallback, fuseUnknown: fuseUnknown),
            merges: try MergeTable(merges) { table.id($0) }, wholeWords: wholeWords, unknownID: unknownID)
    }
}

/// The SentencePiece name of a byte token, `<0xNN>` with upper-case hex digits.
func byteTokenName(_ byte: UInt8) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    return String(decoding: [0x3C, 0x30, 0x78, hex[Int(byte >> 4)], hex[Int(byte & 15)], 0x3E], as: UTF8.self)
}

/// The byte a `<0xNN>` token stands for, or `nil` for any other text.
func byteTokenValue(_ text: String) -> UInt8? {
    let bytes = Array(text.utf8)
    guard bytes.count == 6, bytes[0] == 0x3C, bytes[1] == 0x30, bytes[2] == 0x78, bytes[5] == 0x3E else { return nil }
    return UInt8(String(decoding: bytes[3..<5], as: UTF8.self), radix: 16)
}

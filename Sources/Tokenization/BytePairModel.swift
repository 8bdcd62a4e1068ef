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
    var heap = MinHeap()
    var cache: [[UInt8]: [Int32]] = [:]

    /// Words longer than this are not cached (they are rare and would make the cache large).
    static let maxCachedWordLength = 64
}

/// Byte-level BPE over one word: the word's bytes become single-byte symbols, then the lowest-ranked
/// adjacent pair is merged until none can be (ties go to the leftmost pair), exactly as the `Word::merge_all`
/// priority queue of `tokenizers` does.
struct BytePairModel: Sendable {
    /// The id of the one-byte token for each byte, or -1 if the vocabulary lacks it.
    let symbolForByte: [Int32]
    let merges: MergeTable
    /// With `ignore_merges`, words that are whole vocabulary entries (by bytes) map directly to their id.
    let wholeWords: [[UInt8]: Int32]?
    /// Stands for a byte that has no one-byte token; such bytes are dropped when `nil` (as in `tokenizers`).
    let unknownID: Int32?

    /// Appends the ids of the word `bytes[range]` to `ids`.
    func encodeWord(
        _ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, scratch: inout MergeScratch, into ids: inout [Int32]
    ) {
        if range.count == 1 {
            appendSymbol(for: bytes[range.lowerBound], to: &ids)
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
    private func appendSymbol(for byte: UInt8, to ids: inout [Int32]) {
        let id = symbolForByte[Int(byte)]
        if id >= 0 {
            ids.append(id)
        } else if let unknownID {
            ids.append(unknownID)
        }
    }

    private func merge(_ word: UnsafeBufferPointer<UInt8>, scratch: inout MergeScratch, into ids: inout [Int32]) {
        scratch.symbols.removeAll(keepingCapacity: true)
        for byte in word { appendSymbol(for: byte, to: &scratch.symbols) }
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

/// A binary min-heap of `rank << 32 | position` keys: the lowest rank first, then the leftmost position.
struct MinHeap {
    private var storage: [UInt64] = []

    mutating func removeAll() { storage.removeAll(keepingCapacity: true) }

    mutating func push(_ value: UInt64) {
        storage.append(value)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[parent] > storage[child] else { break }
            storage.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
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

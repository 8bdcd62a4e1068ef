/// The identity of a full KV block's contents: a 128-bit hash chained over the previous block's identity and the
/// block's token ids, so equal identities mean equal prefixes (up to a 2⁻¹²⁸ collision, and `PrefixCache` compares
/// the tokens as well).
///
/// Nothing else changes what a block holds: one engine serves one model, the cache dies with the engine, and
/// sampling parameters do not touch keys and values. A future input that does (a LoRA adapter, an image) must be
/// mixed into `root`.
public struct BlockHash: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    /// The identity the first block of every sequence chains from.
    public static let root = BlockHash(high: 0x6a09_e667_f3bc_c908, low: 0xbb67_ae85_84ca_a73b)

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The identity of a block holding `tokens` after the prefix `parent` identifies.
    public init(parent: BlockHash, tokens: some Collection<Int32>) {
        // Two multiply-xorshift streams with different multipliers: the same value in every process (unlike
        // `Hasher`, seeded per process), so every rank computes the same identities.
        var high = parent.high ^ 0x243f_6a88_85a3_08d3, low = parent.low ^ 0x1319_8a2e_0370_7344
        func mix(_ word: UInt64) {
            high = (high ^ word) &* 0x9E37_79B9_7F4A_7C15
            high ^= high >> 29
            low = (low ^ word) &* 0xD6E8_FEB8_6659_FD93
            low ^= low >> 32
        }
        mix(UInt64(tokens.count))
        for token in tokens { mix(UInt64(UInt32(bitPattern: token))) }
        self.init(high: high, low: low)
    }

    public var description: String { String(high, radix: 16) + String(low, radix: 16) }

    /// The identity block `index` of a sequence chains from, given the identities of its blocks from 0.
    public static func parent(ofBlock index: Int, in hashes: ArraySlice<BlockHash>) -> BlockHash {
        index == 0 ? .root : hashes[hashes.startIndex + index - 1]
    }
}

/// The full blocks whose keys and values outlive their sequence: an index from content identity to block, and the
/// least-recently-used order of the cached blocks no sequence references (the ones an allocation may evict).
///
/// A value owned by `BlockManager`; every operation is deterministic, so replicas that apply the same operations
/// stay identical, and `digest` (a running hash over every operation) lets them prove it cheaply.
struct PrefixCache: Sendable {
    private struct Entry: Sendable {
        var hash: BlockHash
        var parent: BlockHash
    }

    let blockSize: Int
    private var index: [BlockHash: Int32] = [:]
    private var entries: [Entry?]
    /// The tokens of every cached block, `blockSize` per block id (compared on every hit).
    private var tokens: [Int32]
    // The evictable blocks as an intrusive doubly-linked list, oldest first: O(1) to park, revive or evict.
    private var previous: [Int32]
    private var next: [Int32]
    private var oldest: Int32 = -1
    private var newest: Int32 = -1
    private(set) var evictableCount = 0
    private(set) var digest = StableHasher()

    init(blockSize: Int, blockCount: Int) {
        self.blockSize = blockSize
        entries = Array(repeating: nil, count: blockCount)
        tokens = Array(repeating: 0, count: blockCount * blockSize)
        previous = Array(repeating: -1, count: blockCount)
        next = Array(repeating: -1, count: blockCount)
    }

    /// Blocks with an identity (referenced or not).
    var count: Int { index.count }

    func isCached(_ block: Int32) -> Bool { entries[Int(block)] != nil }

    /// The block holding `blockTokens` after the prefix `parent` identifies, whose identity is `hash`, if cached.
    func lookup(_ hash: BlockHash, parent: BlockHash, tokens blockTokens: ArraySlice<Int32>) -> Int32? {
        guard let block = index[hash], let entry = entries[Int(block)], entry.parent == parent else { return nil }
        let start = Int(block) * blockSize
        return tokens[start..<start + blockSize].elementsEqual(blockTokens) ? block : nil
    }

    /// Gives `block` (full, referenced) the identity `hash`, unless that identity already has a block (two sequences
    /// computed the same prefix at once: the first stays cached, the second's copy is freed as usual). Returns
    /// whether it did.
    @discardableResult
    mutating func register(_ block: Int32, hash: BlockHash, parent: BlockHash, tokens blockTokens: ArraySlice<Int32>) -> Bool {
        precondition(blockTokens.count == blockSize)
        guard index[hash] == nil, entries[Int(block)] == nil else { return false }
        index[hash] = block
        entries[Int(block)] = Entry(hash: hash, parent: parent)
        let start = Int(block) * blockSize
        tokens.replaceSubrange(start..<start + blockSize, with: blockTokens)
        record(1, block)
        return true
    }

    /// Puts an unreferenced cached block at the newest end of the eviction order.
    mutating func park(_ block: Int32) {
        previous[Int(block)] = newest
        next[Int(block)] = -1
        if newest >= 0 { next[Int(newest)] = block } else { oldest = block }
        newest = block
        evictableCount += 1
        record(2, block)
    }

    /// Takes a parked block out of the eviction order (a sequence references it again).
    mutating func revive(_ block: Int32) {
        let before = previous[Int(block)], after = next[Int(block)]
        if before >= 0 { next[Int(before)] = after } else { oldest = after }
        if after >= 0 { previous[Int(after)] = before } else { newest = before }
        previous[Int(block)] = -1
        next[Int(block)] = -1
        evictableCount -= 1
        record(3, block)
    }

    /// Removes the least recently used unreferenced block from the cache and returns it (nil: none is parked).
    mutating func evictOldest() -> Int32? {
        guard oldest >= 0 else { return nil }
        let block = oldest
        revive(block)
        if let entry = entries[Int(block)] { index.removeValue(forKey: entry.hash) }
        entries[Int(block)] = nil
        record(4, block)
        return block
    }

    private mutating func record(_ operation: Int, _ block: Int32) {
        digest.combine(operation)
        digest.combine(Int(block))
    }
}

/// Hands out fixed-size KV cache blocks to sequences, reference counted, and keeps the full blocks of finished
/// sequences cached for prefixes that come again (automatic prefix caching).
///
/// A block is in one of three states: *referenced* by one or more sequences' block tables; *free* (holding nothing
/// worth keeping); or *evictable* (unreferenced but cached: a full block with a content identity, `BlockHash`).
/// Allocation takes free blocks first, then evicts the least recently released evictable one, so cached prefixes
/// cost no capacity: `freeBlocks` counts both. A block is shared only while full, and a full block is never written
/// again, so sharing needs no copy-on-write.
///
/// Deterministic: the same sequence of calls yields the same block ids, the same cache and the same eviction order,
/// so every pipeline rank that replays rank 0's schedule ends up with identical block tables (`digest` proves it).
public struct BlockManager: Sendable {
    public let blockSize: Int
    public let blockCount: Int
    /// Free block ids; allocation takes from the front (lowest ids first on a fresh manager), freeing appends.
    private var free: [Int32]
    private var freeHead = 0
    private var references: [Int32]
    private var cache: PrefixCache

    public init(blockSize: Int, blockCount: Int) {
        precondition(blockSize > 0 && blockCount > 0)
        self.blockSize = blockSize
        self.blockCount = blockCount
        free = (0..<Int32(blockCount)).map { $0 }
        references = Array(repeating: 0, count: blockCount)
        cache = PrefixCache(blockSize: blockSize, blockCount: blockCount)
    }

    /// Blocks an allocation can take: free ones and evictable cached ones.
    public var freeBlocks: Int { free.count - freeHead + cache.evictableCount }
    /// Blocks referenced by at least one sequence.
    public var usedBlocks: Int { blockCount - freeBlocks }
    /// Blocks with a content identity, referenced or not.
    public var cachedBlocks: Int { cache.count }
    /// Cached blocks no sequence references (evicted, oldest first, when free blocks run out).
    public var evictableBlocks: Int { cache.evictableCount }
    /// A hash over every prefix-cache operation (identity given, parked, revived, evicted), in order. Replicas of
    /// different sizes agree on it until one of them has to evict what another keeps.
    public var digest: UInt64 { cache.digest.value }

    /// How many block tables hold `block`.
    public func referenceCount(_ block: Int32) -> Int { Int(references[Int(block)]) }

    /// Blocks needed to hold `tokens` tokens.
    public func blocksNeeded(tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// Whether `table` can grow to hold `tokens` tokens with the free blocks left.
    public func canGrow(_ table: [Int32], toHold tokens: Int) -> Bool {
        blocksNeeded(tokens: tokens) - table.count <= freeBlocks
    }

    /// Appends blocks to `table` until it holds `tokens` tokens. Returns false (changing nothing) if too few are free.
    public mutating func grow(_ table: inout [Int32], toHold tokens: Int) -> Bool {
        grow(&table, toBlocks: blocksNeeded(tokens: tokens))
    }

    /// Appends blocks to `table` until it has `count`: free blocks first, then evicted ones. Returns false (changing
    /// nothing) if too few are free.
    mutating func grow(_ table: inout [Int32], toBlocks count: Int) -> Bool {
        let needed = count - table.count
        guard needed <= freeBlocks else { return false }
        for _ in 0..<max(0, needed) {
            let block: Int32
            if freeHead < free.count {
                block = free[freeHead]
                freeHead += 1
            } else {
                block = cache.evictOldest()!  // freeBlocks counted it
            }
            references[Int(block)] = 1
            table.append(block)
        }
        if freeHead > 1024 && freeHead * 2 > free.count {
            free.removeFirst(freeHead)
            freeHead = 0
        }
        return true
    }

    /// Returns every block of `table` to the manager and empties it. A block no other table holds becomes free, or
    /// evictable if it is cached; a table's last blocks are released first, so they are evicted before its first
    /// ones (a later sequence that shares a prefix shares its beginning).
    public mutating func release(_ table: inout [Int32]) {
        for block in table.reversed() {
            references[Int(block)] -= 1
            precondition(references[Int(block)] >= 0, "KV block \(block) released more often than it was taken")
            guard references[Int(block)] == 0 else { continue }
            if cache.isCached(block) { cache.park(block) } else { free.append(block) }
        }
        table.removeAll()
    }

    // MARK: Prefix caching

    /// The cached blocks holding the longest prefix of `tokens` made of whole blocks, at most `limit` of them;
    /// `hashes[i]` is the identity of the prefix's block `i` (see `BlockHash`).
    public func cachedPrefix(of tokens: [Int32], hashes: ArraySlice<BlockHash>, limit: Int) -> [Int32] {
        var blocks: [Int32] = []
        for i in 0..<min(limit, hashes.count) {
            guard let block = cachedBlock(i, of: tokens, hashes: hashes) else { break }
            blocks.append(block)
        }
        return blocks
    }

    /// The cached blocks holding blocks `range` of `tokens` (all of them, or nil); `hashes` covers at least
    /// `range.upperBound` blocks. For a pool that keeps only a window of each sequence.
    public func cachedBlocks(of tokens: [Int32], hashes: ArraySlice<BlockHash>, range: Range<Int>) -> [Int32]? {
        var blocks: [Int32] = []
        for i in range {
            guard let block = cachedBlock(i, of: tokens, hashes: hashes) else { return nil }
            blocks.append(block)
        }
        return blocks
    }

    /// The cached block holding block `i` of `tokens`, whose identity is `hashes[i]` (counted from the slice's start).
    private func cachedBlock(_ i: Int, of tokens: [Int32], hashes: ArraySlice<BlockHash>) -> Int32? {
        cache.lookup(hashes[hashes.startIndex + i], parent: .parent(ofBlock: i, in: hashes),
                     tokens: tokens[i * blockSize..<(i + 1) * blockSize])
    }

    /// Appends cached `blocks` (a `cachedPrefix` answer) to the empty `table`, taking a reference to each.
    public mutating func acquire(_ blocks: [Int32], into table: inout [Int32]) {
        precondition(table.isEmpty, "a cached prefix starts a block table")
        for block in blocks {
            if references[Int(block)] == 0 { cache.revive(block) }
            references[Int(block)] += 1
            table.append(block)
        }
    }

    /// Gives the full, referenced `block` the identity `hash` (its tokens follow the prefix `parent` identifies), so
    /// it stays cached after its last table releases it. A second block with an identity already cached stays
    /// uncached. Returns whether the block was cached now.
    @discardableResult
    public mutating func register(_ block: Int32, hash: BlockHash, parent: BlockHash, tokens: ArraySlice<Int32>) -> Bool {
        precondition(references[Int(block)] > 0, "only a referenced block is cached")
        return cache.register(block, hash: hash, parent: parent, tokens: tokens)
    }
}

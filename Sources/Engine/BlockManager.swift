/// Hands out fixed-size KV cache blocks to sequences.
///
/// Deterministic: the same sequence of allocate/free calls yields the same block ids, so every pipeline rank that
/// replays rank 0's schedule ends up with identical block tables.
public struct BlockManager: Sendable {
    public let blockSize: Int
    public let blockCount: Int
    /// Free block ids; allocation takes from the front (lowest ids first on a fresh manager), freeing appends.
    private var free: [Int32]
    private var freeHead = 0

    public init(blockSize: Int, blockCount: Int) {
        precondition(blockSize > 0 && blockCount > 0)
        self.blockSize = blockSize
        self.blockCount = blockCount
        free = (0..<Int32(blockCount)).map { $0 }
    }

    public var freeBlocks: Int { free.count - freeHead }
    public var usedBlocks: Int { blockCount - freeBlocks }

    /// Blocks needed to hold `tokens` tokens.
    public func blocksNeeded(tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// Whether `table` can grow to hold `tokens` tokens with the free blocks left.
    public func canGrow(_ table: [Int32], toHold tokens: Int) -> Bool {
        blocksNeeded(tokens: tokens) - table.count <= freeBlocks
    }

    /// Appends blocks to `table` until it holds `tokens` tokens. Returns false (changing nothing) if too few are free.
    public mutating func grow(_ table: inout [Int32], toHold tokens: Int) -> Bool {
        let needed = blocksNeeded(tokens: tokens) - table.count
        guard needed <= freeBlocks else { return false }
        for _ in 0..<max(0, needed) {
            table.append(free[freeHead])
            freeHead += 1
        }
        if freeHead > 1024 && freeHead * 2 > free.count {
            free.removeFirst(freeHead)
            freeHead = 0
        }
        return true
    }

    /// Returns every block of `table` to the free list and empties it.
    public mutating func release(_ table: inout [Int32]) {
        free.append(contentsOf: table)
        table.removeAll()
    }
}

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
        grow(&table, toBlocks: blocksNeeded(tokens: tokens))
    }

    /// Appends blocks to `table` until it has `count`. Returns false (changing nothing) if too few are free.
    mutating func grow(_ table: inout [Int32], toBlocks count: Int) -> Bool {
        let needed = count - table.count
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

/// The blocks a sequence holds for its sliding-window layers: only those covering the positions the window can still
/// see. `blocks[i]` holds positions `(firstBlock + i) · blockSize ..< (firstBlock + i + 1) · blockSize`.
struct WindowedBlockTable: Sendable, Equatable {
    var blocks: [Int32] = []
    /// The block index (position / block size) `blocks[0]` covers.
    var firstBlock = 0
}

/// The second block pool of a model with sliding-window layers (Gemma 3's local layers): a token at position `p`
/// of such a layer sees only `p − window + 1 … p`, so a sequence keeps blocks for the last positions only and the
/// pool costs O(window) per sequence instead of O(context).
///
/// Each scheduled chunk `start ..< end` first releases the blocks wholly before `max(0, start − window + 1)` (no
/// position from `start` on sees them), then grows the table to `end` — in the same plan, on every rank, so block ids
/// and free lists stay identical. Releasing at scheduling time is safe because every stage runs its micro-batches in
/// order, one at a time: a block released while planning batch n+1 is read only by batches ≤ n of that sequence
/// (batch n+1 and later start at or after `start`), and any stage writes it for its new owner in batch n+1 or later,
/// after it finished batch n. The same argument covers the blocks preemption and cancellation release.
struct WindowedBlocks: Sendable {
    private(set) var manager: BlockManager
    /// Positions a token of a sliding-window layer sees, itself included.
    let window: Int

    init(blockSize: Int, blockCount: Int, window: Int) {
        precondition(window >= 1)
        manager = BlockManager(blockSize: blockSize, blockCount: blockCount)
        self.window = window
    }

    var blockSize: Int { manager.blockSize }

    /// The first block a chunk starting at `start` reads.
    func firstVisibleBlock(_ start: Int) -> Int { max(0, start - window + 1) / blockSize }

    /// What scheduling `count` tokens from `start` does to `table`: the blocks it releases first, then the blocks it
    /// takes (at most `released` plus the free blocks, or it cannot run).
    func demand(_ table: WindowedBlockTable, start: Int, count: Int) -> (released: Int, needed: Int) {
        let (released, firstBlock) = trim(table, start: start)
        let kept = table.blocks.count - released
        return (released, max(0, manager.blocksNeeded(tokens: start + count) - firstBlock - kept))
    }

    /// How many of `table`'s blocks no token from `start` on sees, and the block index its first entry covers once
    /// they are gone: the one rule `demand` (rank 0's plan) and `advance` (every rank's replay) both follow.
    private func trim(_ table: WindowedBlockTable, start: Int) -> (released: Int, firstBlock: Int) {
        let first = firstVisibleBlock(start)
        let released = min(table.blocks.count, max(0, first - table.firstBlock))
        return (released, table.blocks.count == released ? max(table.firstBlock, first) : table.firstBlock + released)
    }

    /// Blocks a sequence needs at most for one chunk of `chunk` tokens: the window before the chunk's first token
    /// (`window − 1` positions), the chunk, and one block of misalignment at each end — never more than the
    /// `longest`-token sequence has blocks.
    static func blocksPerSequence(window: Int, blockSize: Int, chunk: Int, longest: Int) -> Int {
        min((longest + blockSize - 1) / blockSize, (window - 1 + chunk + blockSize - 1) / blockSize + 1)
    }

    /// Releases the blocks of `table` no token from `start` on sees, then grows it to hold positions up to
    /// `start + count`. Returns false (having released, but taken nothing) when too few blocks are free.
    mutating func advance(_ table: inout WindowedBlockTable, start: Int, count: Int) -> Bool {
        let (released, firstBlock) = trim(table, start: start)
        var dropped = Array(table.blocks.prefix(released))
        manager.release(&dropped)
        table.blocks.removeFirst(released)
        table.firstBlock = firstBlock
        return manager.grow(&table.blocks, toBlocks: manager.blocksNeeded(tokens: start + count) - table.firstBlock)
    }

    /// Returns every block of `table` to the pool and empties it (the sequence starts again from position 0).
    mutating func release(_ table: inout WindowedBlockTable) {
        manager.release(&table.blocks)
        table.firstBlock = 0
    }
}

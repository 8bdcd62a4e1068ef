/// The blocks a sequence holds for its sliding-window layers: only those covering the positions the window can still
/// see. `blocks[i]` holds positions `(firstBlock + i) · blockSize ..< (firstBlock + i + 1) · blockSize`.
struct WindowedBlockTable: Sendable, Equatable {
    var blocks: [Int32] = []
    /// The block index (position / block size) `blocks[0]` covers.
    var firstBlock = 0
}

extension WindowedBlockTable {
    /// The table of a sequence that resumes at block `start` after a cached prefix, holding the cached window
    /// blocks `cached` (a `WindowedBlocks.cachedWindow` answer: the blocks just before `start`).
    init(cached: [Int32], startingAt start: Int) {
        self.init(blocks: cached, firstBlock: start - cached.count)
    }
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

    // MARK: Prefix caching

    /// The cached blocks a sequence that starts at block `start` (after a cached prefix of `start` blocks) needs:
    /// those covering the window before it. Nil when one of them is not cached.
    func cachedWindow(of tokens: [Int32], hashes: ArraySlice<BlockHash>, startingAt start: Int) -> [Int32]? {
        manager.cachedBlocks(of: tokens, hashes: hashes, range: min(start, firstVisibleBlock(start * blockSize))..<start)
    }

    /// Starts the empty `table` of a sequence that resumes at block `start` with the `cachedWindow` answer `blocks`.
    mutating func acquire(_ blocks: [Int32], startingAt start: Int, into table: inout WindowedBlockTable) {
        var taken: [Int32] = []
        manager.acquire(blocks, into: &taken)
        table = WindowedBlockTable(cached: taken, startingAt: start)
    }

    /// Gives the full block `index` of the sequence `table` belongs to the identity `hash` (see `BlockManager.register`).
    mutating func register(_ table: WindowedBlockTable, index: Int, hash: BlockHash, parent: BlockHash, tokens: ArraySlice<Int32>) {
        manager.register(table.blocks[index - table.firstBlock], hash: hash, parent: parent, tokens: tokens)
    }

    /// Returns every block of `table` to the pool and empties it (the sequence starts again from position 0).
    mutating func release(_ table: inout WindowedBlockTable) {
        manager.release(&table.blocks)
        table.firstBlock = 0
    }
}

/// Rank 0's running account of the KV blocks one plan takes and gives back, mirroring what `RequestTable.apply` will
/// do, so a plan rank 0 makes always fits: in each pool, the free blocks (free and evictable cached ones alike) and
/// the reference counts the plan changed — a preempted request's shared blocks stay taken, a block a sliding window
/// leaves behind is freed only when no other table holds it, and a reused cached block nobody held stops being free.
struct BlockLedger {
    /// What scheduling one chunk takes from each pool.
    struct Demand {
        /// Blocks the chunk grows its tables by, net of the windowed blocks it frees first.
        var full = 0
        var windowed = 0
        /// The cached blocks a waiting request starts from.
        var cached = CachedPrefix()
        /// The windowed blocks the chunk's window leaves behind.
        var released: ArraySlice<Int32> = []
    }

    let table: RequestTable
    private var full: PoolLedger
    private var windowed: PoolLedger?

    init(_ table: RequestTable) {
        self.table = table
        full = PoolLedger(table.blocks)
        windowed = table.windowed.map { PoolLedger($0.manager) }
    }

    /// What scheduling `count` more tokens of `state` takes; a waiting request starts after the cached blocks `cached`.
    func demand(_ state: RequestState, by count: Int, reusing cached: CachedPrefix = CachedPrefix()) -> Demand {
        let start = state.computed + cached.full.count * table.blocks.blockSize
        var demand = Demand(cached: cached)
        demand.full = max(0, table.blocks.blocksNeeded(tokens: start + count) - state.blockTable.count - cached.full.count)
        guard let pool = table.windowed, let windowed else { return demand }
        let windowTable = cached.full.isEmpty ? state.windowBlocks
            : WindowedBlockTable(cached: cached.window, startingAt: cached.full.count)
        let (released, needed) = pool.demand(windowTable, start: start, count: count)
        demand.released = windowTable.blocks.prefix(released)
        demand.windowed = needed - windowed.freed(demand.released)
        return demand
    }

    func fits(_ demand: Demand) -> Bool {
        full.fits(net: demand.full, reusing: demand.cached.full)
            && windowed.map { $0.fits(net: demand.windowed, reusing: demand.cached.window) } != false
    }

    mutating func take(_ demand: Demand) {
        full.take(net: demand.full, reusing: demand.cached.full, releasing: [])
        windowed?.take(net: demand.windowed, reusing: demand.cached.window, releasing: demand.released)
    }

    /// A preempted request gives back every block only it holds (preemptions are applied before any chunk).
    mutating func preempt(_ victim: RequestState) {
        full.preempt(victim.blockTable[...])
        windowed?.preempt(victim.windowBlocks.blocks[...])
    }
}

/// One pool's account. `apply` takes every reused cached block before any chunk grows (so no allocation evicts
/// one), then runs the chunks in plan order; a plan fits when, at every chunk, the blocks free then cover the ones
/// the reused blocks took.
private struct PoolLedger {
    let manager: BlockManager
    /// Free blocks once the plan's preemptions are applied.
    private var base: Int
    /// Blocks the chunks so far take, net.
    private var taken = 0
    /// The least `base − taken` after any chunk so far: the plan's tightest point.
    private var tightest: Int
    /// Free blocks the reused cached blocks take.
    private var pinned = 0
    private var references: [Int32: Int] = [:]

    init(_ manager: BlockManager) {
        self.manager = manager
        base = manager.freeBlocks
        tightest = base
    }

    private func referenceCount(_ block: Int32) -> Int { references[block] ?? manager.referenceCount(block) }

    /// Of `cached`, the blocks no table holds (reusing them takes them off the free count).
    private func revived(_ cached: [Int32]) -> Int { cached.reduce(0) { $0 + (referenceCount($1) == 0 ? 1 : 0) } }

    /// Of `released`, the blocks no other table holds (releasing them frees them).
    func freed(_ released: ArraySlice<Int32>) -> Int { released.reduce(0) { $0 + (referenceCount($1) == 1 ? 1 : 0) } }

    func fits(net: Int, reusing cached: [Int32]) -> Bool {
        min(tightest, base - taken - net) >= pinned + revived(cached)
    }

    mutating func take(net: Int, reusing cached: [Int32], releasing released: ArraySlice<Int32>) {
        for block in released { references[block] = referenceCount(block) - 1 }
        pinned += revived(cached)
        for block in cached { references[block] = referenceCount(block) + 1 }
        taken += net
        tightest = min(tightest, base - taken)
    }

    mutating func preempt(_ blocks: ArraySlice<Int32>) {
        for block in blocks {
            references[block] = referenceCount(block) - 1
            if references[block] == 0 {
                base += 1
                tightest += 1
            }
        }
    }
}

import Model

/// One rank's replica of the request table: every live request, the waiting queue, the running list, in-flight marks
/// and the KV block allocators (the full pool with its prefix cache, and the sliding-window layers' pool of a model
/// that has them).
///
/// Every rank applies the same intake, the same plans and the same executed batches in the same iterations, so every
/// replica goes through the same states and hands out the same block ids (`hash` checks it). Only rank 0 decides;
/// the others replay and fail loudly if a plan does not fit.
final class RequestTable {
    private(set) var blocks: BlockManager
    /// The sliding-window layers' pool (nil: the model has none, and every layer uses `blocks`).
    private(set) var windowed: WindowedBlocks?
    let contextLength: Int
    private(set) var requests: [Int: RequestState] = [:]
    /// Waiting requests in arrival order (preempted ones go back to their arrival position).
    private(set) var waiting: [RequestState] = []
    /// Running requests in admission order; the last is the youngest (preempted first).
    private(set) var running: [RequestState] = []
    /// Arrival number the next admitted request gets.
    private(set) var nextArrival = 0
    private(set) var preemptions = 0
    /// Whether rank 0 looks for cached prefixes (`EngineOptions.prefixCaching`). Every replica caches the blocks it
    /// computes either way, so it can follow whatever rank 0 decides.
    let prefixCaching: Bool
    /// Tokens of admissions that looked for a cached prefix, and how many of them it supplied (vLLM's queries and hits).
    private(set) var prefixQueries = 0
    private(set) var prefixHits = 0

    init(blocks: BlockManager, windowed: WindowedBlocks? = nil, contextLength: Int, prefixCaching: Bool = true) {
        self.blocks = blocks
        self.windowed = windowed
        self.contextLength = contextLength
        self.prefixCaching = prefixCaching
    }

    /// The cached blocks a waiting `state` can start from (rank 0's decision): its longest cached prefix of whole
    /// blocks, short of its last token (which must run to give logits). Empty when prefix caching is off.
    func cachedPrefix(of state: RequestState) -> CachedPrefix {
        prefixCaching ? cachedBlocks(of: state, limit: .max) : CachedPrefix()
    }

    /// The longest cached prefix of `state`'s tokens, at most `limit` blocks and short of its last token: full-pool
    /// blocks for every block of it and, with a sliding-window pool, that pool's blocks for the window before its end
    /// (a shorter prefix when they are gone, since that pool evicts what the window left behind).
    private func cachedBlocks(of state: RequestState, limit: Int) -> CachedPrefix {
        let most = min(limit, (state.tokens.count - 1) / blocks.blockSize)
        guard most > 0 else { return CachedPrefix() }
        let hashes = state.blockHashes(most, blockSize: blocks.blockSize)
        let full = blocks.cachedPrefix(of: state.tokens, hashes: hashes, limit: most)
        guard let windowed else { return CachedPrefix(full: full) }
        for count in stride(from: full.count, to: 0, by: -1) {
            if let window = windowed.cachedWindow(of: state.tokens, hashes: hashes, startingAt: count) {
                return CachedPrefix(full: Array(full.prefix(count)), window: window)
            }
        }
        return CachedPrefix()
    }

    var isEmpty: Bool { requests.isEmpty }

    /// Adds a new request at the back of the waiting queue.
    @discardableResult
    func admit(_ request: GenerationRequest, eosTokenIDs: [Int32], detokenizer: any IncrementalDetokenizer,
               assemblesText: Bool = true) -> RequestState {
        let state = RequestState(request: request, arrival: nextArrival, eosTokenIDs: eosTokenIDs, detokenizer: detokenizer,
                                 assemblesText: assemblesText)
        nextArrival += 1
        requests[state.arrival] = state
        waiting.append(state)
        return state
    }

    /// Removes a request (finished or cancelled) and frees its blocks.
    func remove(_ state: RequestState) {
        guard requests.removeValue(forKey: state.arrival) != nil else { return }
        running.removeAll { $0 === state }
        waiting.removeAll { $0 === state }
        release(state)
        state.status = .finished
    }

    /// Frees both of `state`'s block tables.
    private func release(_ state: RequestState) {
        blocks.release(&state.blockTable)
        windowed?.release(&state.windowBlocks)
        state.registeredBlocks = 0
        state.registeredWindowBlocks = 0
    }

    /// What the stage runs for `planned`: its positions, the full block table and (with a sliding-window pool) the
    /// windowed one.
    func sequenceChunk(_ planned: PlannedChunk, of state: RequestState, wantsLogits: Bool) -> SequenceChunk {
        SequenceChunk(startPosition: planned.start, tokenCount: planned.count, blockTable: state.blockTable,
                      wantsLogits: wantsLogits, windowBlockTable: state.windowBlocks.blocks,
                      windowStart: state.windowBlocks.firstBlock * (windowed?.blockSize ?? 0))
    }

    /// Applies rank 0's schedule: preemptions first, then the prefix-cache hits of admitted requests (a waiting
    /// request's chunk that starts after 0 starts after the cached blocks it reuses; taking them before any chunk
    /// allocates keeps allocation from evicting them), then each chunk (admitting waiting requests, growing block
    /// tables, sliding windowed block tables past the blocks the chunk's window no longer sees (see `WindowedBlocks`
    /// for why that is safe at scheduling time), advancing computed positions, marking sampling chunks in flight),
    /// and last caching the blocks the plan fills (a later plan may reuse them: every stage runs its micro-batches in
    /// order, so this plan's batch has written them wherever a later one reads them).
    /// - Throws: `ScheduleMismatch` when this replica cannot follow the plan (it diverged, or has fewer KV blocks).
    func apply(_ plan: IterationPlan, rank: Int) throws(ScheduleMismatch) {
        func mismatch(_ message: String) -> ScheduleMismatch {
            ScheduleMismatch(rank: rank, iteration: plan.iteration, message: message)
        }
        for arrival in plan.preempted {
            guard let state = requests[arrival], state.status == .running, !state.inFlight else {
                throw mismatch("cannot preempt request #\(arrival): it is not a running request outside a micro-batch here")
            }
            running.removeAll { $0 === state }
            release(state)
            state.computed = 0
            state.status = .waiting
            waiting.insert(state, at: waiting.firstIndex { $0.arrival > arrival } ?? waiting.endIndex)
            preemptions += 1
        }
        for chunk in plan.chunks {
            guard let state = requests[chunk.arrival], state.status == .waiting else { continue }
            try reuseCachedPrefix(chunk, of: state, mismatch: mismatch)
        }
        for chunk in plan.chunks {
            guard let state = requests[chunk.arrival] else { throw mismatch("request #\(chunk.arrival) is unknown here") }
            guard !state.inFlight, chunk.start == state.computed, chunk.count > 0,
                  chunk.start + chunk.count <= state.tokens.count else {
                throw mismatch("chunk \(chunk.start)..<\(chunk.start + chunk.count) of request #\(chunk.arrival) does not "
                               + "follow its state here (\(state.computed) of \(state.tokens.count) tokens computed, "
                               + "in flight: \(state.inFlight))")
            }
            guard blocks.grow(&state.blockTable, toHold: chunk.start + chunk.count) else {
                let needed = blocks.blocksNeeded(tokens: chunk.start + chunk.count) - state.blockTable.count
                throw mismatch("request #\(chunk.arrival) needs \(needed) more KV blocks but only \(blocks.freeBlocks) of "
                               + "\(blocks.blockCount) are free on this rank; every rank must be given the same KV cache "
                               + "size (--kv-cache-mb) and block size")
            }
            if windowed?.advance(&state.windowBlocks, start: chunk.start, count: chunk.count) == false {
                throw mismatch("request #\(chunk.arrival) needs more sliding-window KV blocks than the \(windowed!.manager.freeBlocks) "
                               + "of \(windowed!.manager.blockCount) free on this rank; every rank must be given the same KV "
                               + "cache size (--kv-cache-mb), block size and batch limits")
            }
            if state.status == .waiting {
                waiting.removeAll { $0 === state }
                running.append(state)
                state.status = .running
            }
            state.computed += chunk.count
            state.lastScheduled = plan.iteration
            state.inFlight = state.computed == state.tokens.count
        }
        for chunk in plan.chunks {
            if let state = requests[chunk.arrival] { cacheFullBlocks(of: state) }
        }
    }

    /// Starts a waiting request's block table with the cached blocks its first chunk skips.
    private func reuseCachedPrefix(_ chunk: PlannedChunk, of state: RequestState,
                                   mismatch: (String) -> ScheduleMismatch) throws(ScheduleMismatch) {
        let reused = chunk.start / blocks.blockSize
        if prefixCaching {
            prefixQueries += state.tokens.count
            prefixHits += chunk.start
        }
        state.cachedTokens = chunk.start
        guard chunk.start > 0 else { return }
        guard chunk.start % blocks.blockSize == 0, chunk.start < state.tokens.count else {
            throw mismatch("request #\(chunk.arrival) is admitted at token \(chunk.start) of \(state.tokens.count): a "
                           + "cached prefix is whole blocks of \(blocks.blockSize) tokens short of the last token")
        }
        let cached = cachedBlocks(of: state, limit: reused)
        guard cached.full.count == reused else {
            throw mismatch("request #\(chunk.arrival) reuses \(reused) cached KV blocks (\(chunk.start) tokens) but only "
                           + "\(cached.full.count) of them are cached on this rank: the prefix caches diverged")
        }
        blocks.acquire(cached.full, into: &state.blockTable)
        windowed?.acquire(cached.window, startingAt: reused, into: &state.windowBlocks)
        state.registeredBlocks = reused
        state.registeredWindowBlocks = reused
        state.computed = chunk.start
    }

    /// Gives every block of `state` that its computed tokens fill an identity in the prefix cache.
    private func cacheFullBlocks(of state: RequestState) {
        let full = state.computed / blocks.blockSize
        guard full > state.registeredBlocks else { return }
        let hashes = state.blockHashes(full, blockSize: blocks.blockSize)
        func tokens(_ i: Int) -> ArraySlice<Int32> { state.tokens[i * blocks.blockSize..<(i + 1) * blocks.blockSize] }
        for i in state.registeredBlocks..<full {
            blocks.register(state.blockTable[i], hash: hashes[i], parent: .parent(ofBlock: i, in: hashes), tokens: tokens(i))
        }
        state.registeredBlocks = full
        guard windowed != nil else { return }
        for i in max(state.registeredWindowBlocks, state.windowBlocks.firstBlock)..<full {
            windowed!.register(state.windowBlocks, index: i, hash: hashes[i], parent: .parent(ofBlock: i, in: hashes),
                               tokens: tokens(i))
        }
        state.registeredWindowBlocks = full
    }

    /// A hash of everything that must be identical on every rank at an iteration boundary.
    var hash: UInt64 {
        var h = StableHasher()
        h.combine(nextArrival)
        h.combine(Int(bitPattern: UInt(blocks.digest)))
        if let windowed { h.combine(Int(bitPattern: UInt(windowed.manager.digest))) }
        for list in [running, waiting] {
            h.combine(list.count)
            for state in list {
                h.combine(state.arrival)
                h.combine(state.tokens.count)
                h.combine(state.computed)
                h.combine(state.outputCount)
                h.combine(state.inFlight ? 1 : 0)
                h.combine(state.lastScheduled)
                h.combine(state.blockTable.count)
                h.combine(state.registeredBlocks)
                for block in state.blockTable { h.combine(Int(block)) }
                if windowed != nil {  // models without a sliding-window pool hash as before
                    h.combine(state.registeredWindowBlocks)
                    h.combine(state.windowBlocks.firstBlock)
                    h.combine(state.windowBlocks.blocks.count)
                    for block in state.windowBlocks.blocks { h.combine(Int(block)) }
                }
                if let last = state.tokens.last { h.combine(Int(last)) }
            }
        }
        return h.value
    }
}

/// Cached blocks a waiting request starts from: one per block of the prefix in the full pool and, for a model with
/// sliding-window layers, the window pool's blocks for the window before the prefix's end.
struct CachedPrefix: Equatable {
    var full: [Int32] = []
    var window: [Int32] = []
}

/// A replica that cannot follow rank 0's plan: the pipeline stops rather than diverge.
struct ScheduleMismatch: Error, CustomStringConvertible {
    let rank: Int
    let iteration: Int
    let message: String
    var description: String { "rank \(rank) cannot follow the schedule of iteration \(iteration): \(message)" }
}

/// A multiply-xorshift hash over 64-bit words: the same value in every process (unlike `Hasher`, which is seeded per
/// process), and cheap enough to run over the whole table every iteration.
struct StableHasher: Sendable {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func combine(_ word: Int) {
        value = (value ^ UInt64(bitPattern: Int64(word))) &* 0x9E37_79B9_7F4A_7C15
        value ^= value >> 29
    }
}

/// Rank 0's scheduling policy: continuous batching with chunked prefill, within a token budget and a sequence limit.
///
/// Running requests (a decode token each, or the next chunk of their prompt) and waiting requests in arrival order
/// (FCFS, no overtaking) share each micro-batch; see `fill` for which go first. Requests whose sampled token is still executing (in flight) are skipped, so
/// chunks of one long prompt pipeline through the stages while a decode request sits in at most one micro-batch.
/// When KV blocks run out (in either pool: a model with sliding-window layers has a second one, see `WindowedBlocks`),
/// the youngest running request outside every micro-batch is preempted and later recomputed from its tokens; nothing
/// is lost.
///
/// `plan` only decides; `RequestTable.apply` carries the decision out, on rank 0 and on every other rank alike.
struct Scheduler {
    var maxBatchedTokens: Int
    var maxSequences: Int
    /// Number of pipeline stages: with at least this many live requests, each micro-batch takes at most
    /// ⌈live / stages⌉ of them, so the requests spread over enough micro-batches to keep every stage busy.
    var stages: Int

    /// The next micro-batch for `table` (possibly empty) and the requests to preempt to make room for it.
    ///
    /// With at least `stages` micro-batches already in flight every stage has work, so a batch that is not full
    /// (fewer sequences than the spread limit, token budget left) is held back: its requests join the next batch
    /// instead of travelling as a fragment of their own. Each micro-batch costs every stage a pass over its weights,
    /// so fragments cost throughput; holding them costs nothing while the pipe is full.
    func plan(_ table: RequestTable, iteration: Int, inFlight: Int) -> IterationPlan {
        let plan = fill(table, iteration: iteration, inFlight: inFlight)
        let full = plan.chunks.count >= spreadLimit(table) || plan.chunks.reduce(0, { $0 + $1.count }) >= maxBatchedTokens
        if stages > 1 && inFlight >= stages && !full { return IterationPlan(iteration: iteration) }
        return plan
    }

    /// Sequences per micro-batch: with at least `stages` live requests, ⌈live / stages⌉ (within `maxSequences`).
    func spreadLimit(_ table: RequestTable) -> Int {
        let live = table.running.count + table.waiting.count
        return stages > 1 && live >= stages ? min(maxSequences, (live + stages - 1) / stages) : maxSequences
    }

    private func fill(_ table: RequestTable, iteration: Int, inFlight: Int) -> IterationPlan {
        var plan = IterationPlan(iteration: iteration)
        let limit = spreadLimit(table)
        var budget = maxBatchedTokens
        var ledger = BlockLedger(table)
        var preempted: Set<Int> = []
        var scheduled: Set<Int> = []

        func add(_ state: RequestState, start: Int, _ count: Int) {
            plan.chunks.append(PlannedChunk(arrival: state.arrival, start: start, count: count))
            scheduled.insert(state.arrival)
            budget -= count
        }

        // Running requests, least recently scheduled first (then oldest): a decode token each, or the next chunk of
        // their prompt. Round-robin matters when more requests are ready than fit in a batch: oldest-first would let
        // the first few batches' requests monopolise the pipe and leave the rest for a tail with too few requests to
        // fill every stage.
        func continueRunning() {
            let ready = table.running.filter { !$0.inFlight }.sorted { ($0.lastScheduled, $0.arrival) < ($1.lastScheduled, $1.arrival) }
            for state in ready where !preempted.contains(state.arrival) && !scheduled.contains(state.arrival) {
                guard budget > 0, plan.chunks.count < limit else { return }
                let count = min(state.uncomputed, budget)
                guard count > 0 else { continue }
                let needed = ledger.demand(state, by: count)
                while !ledger.fits(needed), let victim = table.running.last(where: {
                    $0 !== state && !$0.inFlight && !preempted.contains($0.arrival) && !scheduled.contains($0.arrival)
                }) {
                    preempted.insert(victim.arrival)
                    plan.preempted.append(victim.arrival)
                    ledger.preempt(victim)
                }
                guard ledger.fits(needed) else { return }
                ledger.take(needed)
                add(state, start: state.computed, count)
            }
        }
        // Waiting requests in arrival order, each after the longest prefix of it the cache holds; stop at the first
        // that does not fit. Requests preempted just now wait for a later iteration.
        func admitWaiting() {
            for state in table.waiting {
                guard budget > 0, plan.chunks.count < limit else { return }
                let cached = table.cachedPrefix(of: state)
                let start = cached.full.count * table.blocks.blockSize
                let count = min(state.tokens.count - start, budget)
                let needed = ledger.demand(state, by: count, reusing: cached)
                guard ledger.fits(needed) else { return }
                ledger.take(needed)
                add(state, start: start, count)
            }
        }
        // Admission goes first while fewer than 2 × stages micro-batches are in flight: otherwise, once `stages`
        // full batches circulate, returning decodes fill every new batch and waiting requests never get in — the
        // pipe stays exactly `stages` deep and any jitter in a stage becomes a bubble. A second round of
        // micro-batches queued in front of the stages absorbs it.
        if stages > 1 && inFlight < 2 * stages {
            admitWaiting()
            continueRunning()
        } else {
            continueRunning()
            admitWaiting()
        }
        return plan
    }
}

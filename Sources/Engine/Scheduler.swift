/// Rank 0's scheduling policy: continuous batching with chunked prefill, within a token budget and a sequence limit.
///
/// Running requests come first (a decode token each, or the next chunk of their prompt), then waiting requests in
/// arrival order (FCFS, no overtaking). Requests whose sampled token is still executing (in flight) are skipped, so
/// chunks of one long prompt pipeline through the stages while a decode request sits in at most one micro-batch.
/// When KV blocks run out, the youngest running request outside every micro-batch is preempted and later recomputed
/// from its tokens; nothing is lost.
///
/// `plan` only decides; `RequestTable.apply` carries the decision out, on rank 0 and on every other rank alike.
struct Scheduler {
    var maxBatchedTokens: Int
    var maxSequences: Int
    /// Number of pipeline stages: with at least this many live requests, each micro-batch takes at most
    /// ⌈live / stages⌉ of them, so the requests spread over enough micro-batches to keep every stage busy.
    var stages: Int

    /// The next micro-batch for `table` (possibly empty) and the requests to preempt to make room for it.
    func plan(_ table: RequestTable, iteration: Int) -> IterationPlan {
        var plan = IterationPlan(iteration: iteration)
        let live = table.running.count + table.waiting.count
        let limit = stages > 1 && live >= stages ? min(maxSequences, (live + stages - 1) / stages) : maxSequences
        var budget = maxBatchedTokens
        var free = table.blocks.freeBlocks
        var preempted: Set<Int> = []
        var scheduled: Set<Int> = []

        func blocksToGrow(_ state: RequestState, by count: Int) -> Int {
            max(0, table.blocks.blocksNeeded(tokens: state.computed + count) - state.blockTable.count)
        }
        func add(_ state: RequestState, _ count: Int) {
            plan.chunks.append(PlannedChunk(arrival: state.arrival, start: state.computed, count: count))
            scheduled.insert(state.arrival)
            budget -= count
        }

        // 1. Running requests, oldest first.
        for state in table.running where !state.inFlight && !preempted.contains(state.arrival) {
            guard budget > 0, plan.chunks.count < limit else { break }
            let count = min(state.uncomputed, budget)
            guard count > 0 else { continue }
            let needed = blocksToGrow(state, by: count)
            while needed > free, let victim = table.running.last(where: {
                $0 !== state && !$0.inFlight && !preempted.contains($0.arrival) && !scheduled.contains($0.arrival)
            }) {
                preempted.insert(victim.arrival)
                plan.preempted.append(victim.arrival)
                free += victim.blockTable.count
            }
            guard needed <= free else { return plan }
            free -= needed
            add(state, count)
        }
        // 2. Waiting requests in arrival order; stop at the first that does not fit. Requests preempted just now
        //    wait for a later iteration.
        for state in table.waiting {
            guard budget > 0, plan.chunks.count < limit else { break }
            let count = min(state.uncomputed, budget)
            let needed = blocksToGrow(state, by: count)
            guard needed <= free else { break }
            free -= needed
            add(state, count)
        }
        return plan
    }
}

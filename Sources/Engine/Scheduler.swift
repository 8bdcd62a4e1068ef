/// One sequence's share of a scheduled batch.
struct ScheduledChunk {
    let sequence: RequestState
    /// Position of the chunk's first token.
    let start: Int
    let count: Int
    /// True when the chunk reaches the end of the sequence's tokens, so its last token's logits are sampled.
    var samples: Bool { start + count == sequence.tokens.count }
}

/// Continuous batching with chunked prefill: decodes first, then the rest of partly prefilled prompts, then new
/// requests in arrival order (FCFS), within a token budget and a sequence limit. When KV blocks run out, the youngest
/// running sequence is preempted and later recomputed from its tokens; nothing is lost.
struct Scheduler {
    var maxBatchedTokens: Int
    var maxSequences: Int
    var blocks: BlockManager
    private(set) var waiting: [RequestState] = []
    private(set) var running: [RequestState] = []
    private(set) var preemptions = 0

    init(maxBatchedTokens: Int, maxSequences: Int, blocks: BlockManager) {
        self.maxBatchedTokens = maxBatchedTokens
        self.maxSequences = maxSequences
        self.blocks = blocks
    }

    var isIdle: Bool { waiting.isEmpty && running.isEmpty }

    mutating func add(_ sequence: RequestState) {
        waiting.append(sequence)
    }

    /// Removes a sequence (finished or cancelled) and frees its blocks.
    mutating func remove(_ sequence: RequestState) {
        running.removeAll { $0 === sequence }
        waiting.removeAll { $0 === sequence }
        blocks.release(&sequence.blockTable)
        sequence.status = .finished
    }

    /// Chooses the next batch and reserves its KV blocks.
    mutating func schedule() -> [ScheduledChunk] {
        var batch: [ScheduledChunk] = []
        var budget = maxBatchedTokens
        // 1. Running sequences, oldest first: a decode token each, or the next chunk of their prompt.
        var index = 0
        while index < running.count && budget > 0 && batch.count < maxSequences {
            let sequence = running[index]
            let count = min(sequence.uncomputed, budget)
            if reserve(sequence, tokens: count) {
                batch.append(ScheduledChunk(sequence: sequence, start: sequence.computed, count: count))
                budget -= count
                index += 1
            } else if !preemptYoungest(other: sequence) {
                break  // only this sequence is left and it cannot grow: the cache is too small for it alone.
            }
        }
        // 2. Waiting sequences in arrival order; stop at the first that does not fit (FCFS, no overtaking).
        while let sequence = waiting.first, budget > 0, batch.count < maxSequences {
            let count = min(sequence.uncomputed, budget)
            guard reserve(sequence, tokens: count) else { break }
            waiting.removeFirst()
            sequence.status = .running
            running.append(sequence)
            batch.append(ScheduledChunk(sequence: sequence, start: sequence.computed, count: count))
            budget -= count
        }
        return batch
    }

    private mutating func reserve(_ sequence: RequestState, tokens: Int) -> Bool {
        blocks.grow(&sequence.blockTable, toHold: sequence.computed + tokens)
    }

    /// Preempts the youngest running sequence other than `other`, if it is younger; returns false if none can go.
    private mutating func preemptYoungest(other: RequestState) -> Bool {
        guard let victim = running.last, victim !== other else { return false }
        running.removeLast()
        blocks.release(&victim.blockTable)
        victim.computed = 0
        victim.status = .waiting
        let at = waiting.firstIndex { $0.arrival > victim.arrival } ?? waiting.endIndex
        waiting.insert(victim, at: at)
        preemptions += 1
        return true
    }
}

import Foundation
import Model

/// The mailbox between client threads and the engine thread: a lock, a condition to sleep on, and the state it guards.
///
/// `@unchecked Sendable`: every access to `state` happens inside `condition.lock()` / `unlock()`.
final class Inbox: @unchecked Sendable {
    enum Shutdown { case drain, abort }
    typealias Continuation = AsyncThrowingStream<RequestOutput, any Error>.Continuation

    struct State {
        var submitted: [(GenerationRequest, Continuation)] = []
        var cancelled: [String] = []
        var live: Set<String> = []
        var shutdown: Shutdown?
        var failure: String?
        var exited = false
        var statistics = EngineStatistics()
    }

    private let condition = NSCondition()
    private var state = State()

    /// Changes the state and wakes the engine thread.
    @discardableResult
    func post<T>(_ change: (inout State) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        let result = change(&state)
        condition.broadcast()
        return result
    }

    func read<T>(_ body: (State) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body(state)
    }

    /// Blocks until `ready(state)`, then runs `take` under the lock.
    func waitUntil<T>(_ ready: (State) -> Bool, take: (inout State) -> T = { _ in () }) -> T {
        condition.lock()
        defer { condition.unlock() }
        while !ready(state) { condition.wait() }
        return take(&state)
    }
}

/// What the engine thread needs to build its loop (all `Sendable`, so it can cross into the thread).
struct EngineLoopSeed: Sendable {
    let runner: ModelRunner
    let options: EngineOptions
    let blockCount: Int
    let eosTokenIDs: [Int32]
    let makeDetokenizer: @Sendable () -> any IncrementalDetokenizer
    let inbox: Inbox
}

/// The engine thread's loop: take new work, schedule a batch, run it, stream the results. Owns every `RequestState`.
final class EngineLoop {
    let seed: EngineLoopSeed
    var scheduler: Scheduler
    var sequences: [String: (sequence: RequestState, output: Inbox.Continuation)] = [:]
    var arrivals = 0
    var statistics = EngineStatistics()

    init(seed: EngineLoopSeed) {
        self.seed = seed
        scheduler = Scheduler(maxBatchedTokens: seed.options.maxBatchedTokens, maxSequences: seed.options.maxSequences,
                              blocks: BlockManager(blockSize: seed.options.blockSize, blockCount: seed.blockCount))
    }

    func run() {
        while true {
            // 1. Intake: sleep only when there is nothing to run.
            let idle = scheduler.isIdle
            let (submitted, cancelled, shutdown) = seed.inbox.waitUntil({ state in
                !idle || !state.submitted.isEmpty || !state.cancelled.isEmpty || state.shutdown != nil
            }, take: { state in
                defer { state.submitted.removeAll(); state.cancelled.removeAll() }
                return (state.submitted, state.cancelled, state.shutdown)
            })
            for (request, output) in submitted {
                let sequence = RequestState(request: request, arrival: arrivals, eosTokenIDs: seed.eosTokenIDs,
                                        detokenizer: seed.makeDetokenizer())
                arrivals += 1
                sequences[request.id] = (sequence, output)
                scheduler.add(sequence)
            }
            for id in cancelled { finish(id, reason: .abort) }
            if shutdown == .abort { for id in Array(sequences.keys) { finish(id, reason: .abort) } }
            if shutdown != nil && scheduler.isIdle { break }

            // 2. Schedule and 3. run.
            let batch = scheduler.schedule()
            guard !batch.isEmpty else { continue }
            let started = DispatchTime.now().uptimeNanoseconds
            let sampled: [SampledToken]
            do {
                sampled = try seed.runner.run(batch)
            } catch {
                fail("forward pass failed: \(error)")
                return
            }
            statistics.forwardSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

            // 4. Apply: advance computed positions, append sampled tokens, stream, retire finished requests.
            var next = sampled.makeIterator()
            for entry in batch {
                let sequence = entry.sequence
                sequence.computed += entry.count
                if sequence.computed <= sequence.promptCount { statistics.promptTokens += entry.count }
                guard entry.samples, let token = next.next() else { continue }
                emit(sequence, token)
            }
            statistics.steps += 1
            statistics.preemptions = scheduler.preemptions
            statistics.running = scheduler.running.count
            statistics.waiting = scheduler.waiting.count
            statistics.usedBlocks = scheduler.blocks.usedBlocks
            publish()
        }
        publish { $0.exited = true }
    }

    /// Shares the counters with client threads, with any other change to the shared state.
    private func publish(_ change: (inout Inbox.State) -> Void = { _ in }) {
        let snapshot = statistics
        seed.inbox.post { state in
            state.statistics = snapshot
            change(&state)
        }
    }

    private func emit(_ sequence: RequestState, _ token: SampledToken) {
        let text = sequence.append(token, contextLength: seed.runner.stage.config.contextLength)
        statistics.generatedTokens += 1
        guard let output = sequences[sequence.request.id]?.output else { return }
        output.yield(RequestOutput(requestID: sequence.request.id, newTokenIDs: [token.tokenID], textDelta: text,
                                   logprobs: sequence.request.sampling.logprobs == nil ? [] : [token],
                                   finishReason: sequence.finishReason, usage: sequence.usage))
        if sequence.finishReason != nil { retire(sequence.request.id) }
    }

    /// Ends a request early (cancel or abort).
    private func finish(_ id: String, reason: FinishReason) {
        guard let (sequence, output) = sequences[id] else { return }
        sequence.finishReason = reason
        output.yield(RequestOutput(requestID: id, newTokenIDs: [], textDelta: "", logprobs: [], finishReason: reason,
                                   usage: sequence.usage))
        retire(id)
    }

    private func retire(_ id: String) {
        guard let (sequence, output) = sequences.removeValue(forKey: id) else { return }
        scheduler.remove(sequence)
        output.finish()
        seed.inbox.post { _ = $0.live.remove(id) }
    }

    private func fail(_ message: String) {
        for (_, entry) in sequences { entry.output.finish(throwing: EngineError.failed(message)) }
        sequences.removeAll()
        publish { state in
            state.failure = message
            state.exited = true
            for (_, output) in state.submitted { output.finish(throwing: EngineError.failed(message)) }
            state.submitted.removeAll()
        }
    }
}

import Foundation
import Model

/// Rank 0's client bookkeeping: which stream belongs to which request, and the engine-wide counters.
struct ClientBook {
    typealias Continuation = Inbox.Continuation

    /// Streams of requests taken from the inbox this iteration, until the table admits them.
    var pending: [String: Continuation] = [:]
    var streams: [Int: (id: String, output: Continuation)] = [:]
    /// Arrival number of each live request id.
    var arrivals: [String: Int] = [:]
    var statistics = EngineStatistics()
    var inbox: Inbox?

    mutating func admitted(_ state: RequestState) {
        guard let output = pending.removeValue(forKey: state.request.id) else { return }
        streams[state.arrival] = (state.request.id, output)
        statistics.promptTokens += state.promptCount
    }

    /// Streams an update of `state` (a new token, or just its end) and closes the stream when it finished.
    mutating func emit(_ state: RequestState, token: Int32?, text: String, diff: ResponseDiff) {
        guard let (id, output) = streams[state.arrival] else { return }
        if token != nil { statistics.generatedTokens += 1 }
        output.yield(RequestOutput(requestID: id, newTokenIDs: token.map { [$0] } ?? [], textDelta: text,
                                   logprobs: diff.logprobs, logits: diff.logits, finishReason: state.finishReason,
                                   usage: state.usage))
        guard state.finishReason != nil else { return }
        output.finish()
        streams.removeValue(forKey: state.arrival)
        arrivals.removeValue(forKey: id)
        inbox?.post { _ = $0.live.remove(id) }
    }
}

extension PipelineLoop {
    /// Steps 1 and 2 on rank 0: take new work, decide the iteration's plan, apply it, send it down the ring.
    func intakeAndSchedule() throws -> IterationPlan {
        guard let inbox = setup.inbox else { throw PipelineFailure(message: "rank 0 has no client inbox") }
        clients.inbox = inbox
        var plan = IterationPlan(iteration: iteration)
        plan.tableHash = previousHash

        // 1. Intake: sleep only when nothing is waiting, running or in flight.
        let idle = table.isEmpty && outstanding == 0
        setup.monitor.checkpoint(.intake, iteration: iteration, idle: true)
        let (submitted, cancelled, shutdown) = try timed(\.idleSeconds) {
            inbox.waitUntil({ state in
                !idle || !state.submitted.isEmpty || !state.cancelled.isEmpty || state.shutdown != nil || state.failure != nil
            }, take: { state in
                defer { state.submitted.removeAll(); state.cancelled.removeAll() }
                return (state.submitted, state.cancelled, state.shutdown)
            })
        }
        try lifeline.check()
        let scheduling = DispatchTime.now().uptimeNanoseconds
        for (offset, (request, output)) in submitted.enumerated() {
            var request = request
            if request.sampling.seed == nil { request.sampling.seed = UInt64.random(in: 0...UInt64.max) }
            clients.pending[request.id] = output
            clients.arrivals[request.id] = table.nextArrival + offset
            plan.admitted.append(request)
        }
        for id in cancelled {
            if let arrival = clients.arrivals[id], !plan.cancelled.contains(arrival) { plan.cancelled.append(arrival) }
        }
        if shutdown == .abort {
            let live = Set(table.requests.keys).union(plan.admitted.indices.map { table.nextArrival + $0 })
            plan.cancelled += live.subtracting(plan.cancelled).sorted()
            plan.stop = true
        }
        try applyIntake(plan)

        // 2. Schedule, unless every micro-batch slot is taken (or, in sync mode, `pp` batches are in flight).
        if !plan.stop {
            if shutdown == .drain && table.isEmpty && outstanding == 0 {
                plan.stop = true
            } else if outstanding < slotLimit {
                let schedule = scheduler.plan(table, iteration: iteration, inFlight: outstanding)
                plan.preempted = schedule.preempted
                plan.chunks = schedule.chunks
            }
        }
        if plan.chunks.isEmpty && !plan.stop && outstanding == 0 && !table.isEmpty {
            throw PipelineFailure(message: "rank 0 cannot schedule any of its \(table.requests.count) requests with "
                                  + "\(table.blocks.freeBlocks) of \(table.blocks.blockCount) KV blocks free"
                                  + (table.windowed.map { ", \($0.manager.freeBlocks) of \($0.manager.blockCount) sliding-window blocks" } ?? ""))
        }
        try table.apply(plan, rank: rank)
        if setup.size > 1 { try passDownstream(plan.encoded(), tag: .schedule, slots: &planSends) }
        if !plan.chunks.isEmpty || !plan.admitted.isEmpty || !plan.cancelled.isEmpty {
            traced(.schedule, since: scheduling, batch: plan.chunks.isEmpty ? nil : iteration,
                   detail: "\(plan.chunks.count) chunks, \(plan.chunks.reduce(0) { $0 + $1.count }) tokens")
        }
        return plan
    }

    func publishEngineStatistics() {
        guard let inbox = setup.inbox else { return }
        clients.statistics.steps = statistics.microBatches
        clients.statistics.preemptions = table.preemptions
        clients.statistics.running = table.running.count
        clients.statistics.waiting = table.waiting.count
        clients.statistics.usedBlocks = table.blocks.usedBlocks
        clients.statistics.usedWindowBlocks = table.windowed?.manager.usedBlocks ?? 0
        clients.statistics.forwardSeconds = statistics.forwardSeconds
        clients.statistics.prefixCacheQueries = table.prefixQueries
        clients.statistics.prefixCacheHits = table.prefixHits
        clients.statistics.cachedBlocks = table.blocks.cachedBlocks
        let snapshot = clients.statistics
        inbox.post { $0.statistics = snapshot }
    }

    /// After the loop: ends every stream still open (with the pipeline's error if it failed) and closes the inbox.
    func closeClients() {
        let failure = lifeline.failure
        let error = EngineError.failed(failure ?? "the engine shut down")
        for (_, stream) in clients.streams { stream.output.finish(throwing: error) }
        for (_, output) in clients.pending { output.finish(throwing: error) }
        clients.streams.removeAll()
        clients.pending.removeAll()
        setup.inbox?.post { state in
            if let failure { state.failure = failure }
            for (_, output) in state.submitted { output.finish(throwing: error) }
            state.submitted.removeAll()
            state.closed = true
        }
    }
}

import Foundation
import Model

/// Everything one rank's loop needs; all `Sendable`, so it can cross into the rank's thread.
struct RankSetup: Sendable {
    let rank: Int
    let size: Int
    let layers: Range<Int>
    let stage: any StageModel
    let model: any PipelineModel
    /// The request ring's channel (nil with one rank).
    let communicator: (any Communicator)?
    let relay: Relay
    let monitor: RankMonitor
    let lifeline: Lifeline
    let options: EngineOptions
    /// Blocks of this rank's full KV pool (`layout.blockCount` unless a test configures ranks differently).
    let blockCount: Int
    /// The KV pools (the windowed pool's size and window come from here).
    let layout: KVCacheLayout
    /// Client requests and responses; rank 0 only.
    let inbox: Inbox?
}

/// One rank's executor loop, on a dedicated OS thread. Each iteration runs the steps of the design
/// (`shared/design/pp-executor.md`, section 3):
///
/// 1. **Intake** — rank 0 takes new requests, cancellations and shutdown (sleeping only when it has no work at all);
/// 2. **Schedule** — rank 0 plans the micro-batch; steps 1 and 2 travel down the request ring as one message and
///    every rank applies them to its replica of the request table;
/// 3. **Forward** — run the stage; activations go downstream with non-blocking sends; the last rank samples;
/// 4. **Hand over** — the executed batch goes to this rank's relay thread (every rank at the same iteration);
/// 5. **Count** — rank 0 counts the executed batches its relay already delivered, waiting only when it could not
///    launch anything (or, in sync mode, to keep at most `pp` micro-batches in flight);
/// 6. **Propagate the count** down the request ring;
/// 7. **Handle** exactly that many executed batches, FIFO: append tokens, stream (rank 0), retire finished requests;
/// 8. **Advance** the iteration (and micro-batch slot); stop after a plan that says so, then drain.
final class PipelineLoop {
    let setup: RankSetup
    let table: RequestTable
    let scheduler: Scheduler
    var iteration = 0
    /// Executed batches launched and not yet handled; the same on every rank at iteration boundaries.
    var outstanding = 0
    var statistics: StageStatistics
    var previousHash: UInt64 = 0
    var planSends: SendSlots
    var countSends: SendSlots
    var activationSends: SendSlots
    var clients = ClientBook()
    /// Grammar indexes over the vocabulary (used by the last rank's sampler only).
    let grammars: GrammarBook
    /// Most micro-batches in flight: the slot count `M` (`pp` in sync mode).
    let slotLimit: Int
    let started = DispatchTime.now().uptimeNanoseconds
    /// Iterations between request-table hash checks (the hash walks every request and block table).
    static let hashInterval = 8

    var rank: Int { setup.rank }
    var isFirst: Bool { setup.rank == 0 }
    var isLast: Bool { setup.rank == setup.size - 1 }
    var lifeline: Lifeline { setup.lifeline }

    init(setup: RankSetup) {
        self.setup = setup
        let options = setup.options
        let layout = setup.layout
        table = RequestTable(blocks: BlockManager(blockSize: options.blockSize, blockCount: setup.blockCount),
                             windowed: layout.window.map {
                                 WindowedBlocks(blockSize: options.blockSize, blockCount: layout.windowBlockCount, window: $0)
                             },
                             contextLength: setup.options.contextLength(of: setup.model),
                             prefixCaching: options.prefixCaching)
        scheduler = Scheduler(maxBatchedTokens: options.maxBatchedTokens, maxSequences: options.maxSequences,
                              stages: setup.size)
        statistics = StageStatistics(rank: setup.rank, layers: setup.layers)
        grammars = GrammarBook(makeVocabulary: { [model = setup.model] in model.makeTokenVocabulary() })
        slotLimit = options.slotCount(stages: setup.size)
        planSends = SendSlots(count: slotLimit)
        countSends = SendSlots(count: slotLimit)
        activationSends = SendSlots(count: slotLimit)
    }

    func run() {
        do {
            while true {
                let plan = isFirst ? try intakeAndSchedule() : try receivePlan()  // 1, 2
                if !plan.chunks.isEmpty { try forwardAndHandOver(plan) }         // 3, 4
                let count = try countExecuted(launched: !plan.chunks.isEmpty)     // 5, 6
                let handled = try handle(count)                                   // 7
                endIteration(plan, handled: handled)                              // 8
                if plan.stop { break }
            }
            setup.monitor.checkpoint(.drain, iteration: iteration)
            let drained = try handle(outstanding)
            record(IterationPlan(iteration: iteration), handled: drained, stops: true, tableHash: table.hash)
            try planSends.waitAll()
            try countSends.waitAll()
            try activationSends.waitAll()
        } catch {
            lifeline.fail(error is PipelineFailure ? "\(error)" : "rank \(rank), iteration \(iteration): \(error)")
        }
        setup.relay.stop()
        publishStatistics()
        if isFirst { closeClients() }
    }

    // MARK: Steps 1 and 2 on ranks other than 0

    private func receivePlan() throws -> IterationPlan {
        let idle = table.isEmpty && outstanding == 0
        setup.monitor.checkpoint(.plan, iteration: iteration, idle: idle)
        let bytes = try timed(idle ? \.idleSeconds : \.upstreamWaitSeconds, idle ? nil : .waitPlan) {
            try upstream.receive(from: rank - 1, tag: .schedule, watching: lifeline)
        }
        try passDownstream(bytes, tag: .schedule, slots: &planSends)
        let plan = try IterationPlan(decoding: bytes)
        guard plan.iteration == iteration else {
            throw PipelineFailure(message: "rank \(rank) expected the plan of iteration \(iteration), got \(plan.iteration)")
        }
        if plan.tableHash != 0 && previousHash != 0 && plan.tableHash != previousHash {
            throw PipelineFailure(message: "rank \(rank)'s request table differs from rank 0's at the end of iteration "
                                  + "\(iteration - 1) (hash \(previousHash) vs \(plan.tableHash)): the replicas diverged")
        }
        try applyIntake(plan)
        try table.apply(plan, rank: rank)
        return plan
    }

    /// Admits new requests and applies cancellations (the same on every rank).
    func applyIntake(_ plan: IterationPlan) throws {
        for request in plan.admitted {
            // Only rank 0 streams text; the others detokenize only to find stop strings.
            let state = table.admit(request, eosTokenIDs: setup.model.eosTokenIDs, detokenizer: setup.model.makeDetokenizer(),
                                    assemblesText: isFirst || !request.stopStrings.isEmpty)
            if isFirst { clients.admitted(state) }
        }
        for arrival in plan.cancelled {
            guard let state = table.requests[arrival] else {
                throw PipelineFailure(message: "rank \(rank): iteration \(iteration) cancels request #\(arrival), "
                                      + "which this rank does not hold")
            }
            state.finishReason = .abort
            if isFirst { clients.emit(state, token: nil, text: "", diff: ResponseDiff()) }
            table.remove(state)
        }
    }

    // MARK: Steps 3 and 4

    private func forwardAndHandOver(_ plan: IterationPlan) throws {
        var chunks: [SequenceChunk] = []
        var tokens: [Int32] = []
        var sampling: [Int] = []
        for planned in plan.chunks {
            guard let state = table.requests[planned.arrival] else {
                throw PipelineFailure(message: "rank \(rank): request #\(planned.arrival) of iteration \(iteration) is gone")
            }
            let end = planned.start + planned.count
            let samples = end == state.tokens.count
            chunks.append(table.sequenceChunk(planned, of: state, wantsLogits: samples))
            if isFirst { tokens += state.tokens[planned.start..<end] }
            if samples { sampling.append(planned.arrival) }
        }
        var hidden: [Float] = []
        if !isFirst {
            setup.monitor.checkpoint(.activations, iteration: iteration)
            let bytes = try timed(\.upstreamWaitSeconds, .waitActivations, batch: iteration) {
                try upstream.receive(from: rank - 1, tag: .activations, watching: lifeline)
            }
            var reader = WireReader(bytes)
            hidden = try reader.readFloats()
        }
        setup.monitor.checkpoint(.forward, iteration: iteration)
        var batch = ExecutedBatch(iteration: iteration, sampling: sampling)
        try timed(\.forwardSeconds, .forward, batch: iteration) {
            let output = try setup.stage.forward(batch: chunks, tokens: tokens, hidden: hidden)
            switch (output, isLast) {
            case (.hidden(let activations), false):
                var writer = WireWriter(capacity: activations.count * 4 + 8)
                writer.write(activations)
                let channel = try upstream, bytes = writer.bytes, next = rank + 1
                try activationSends.send(slot: iteration) { () throws(TransportError) in
                    try channel.send(bytes, to: next, tag: .activations)
                }
            case (.logits(let logits), true):
                let state = try sample(logits, sampling: sampling)
                batch.state = state
                batch.stateBytes = state.encoded()
            default:
                throw PipelineFailure(message: "rank \(rank) of \(setup.size): the stage returned "
                                      + "\(isLast ? "hidden states instead of logits" : "logits before the last stage")")
            }
        }
        statistics.microBatches += 1
        statistics.tokens += chunks.reduce(0) { $0 + $1.tokenCount }
        try setup.relay.handOver(batch)
        outstanding += 1
        statistics.maxInFlight = max(statistics.maxInFlight, outstanding)
    }

    /// The last rank's sampler: one token per sampling chunk, with its log-probs / logits added to the request's diff.
    private func sample(_ logits: [Float], sampling: [Int]) throws -> SampleState {
        let vocab = setup.model.vocabSize
        guard logits.count == sampling.count * vocab else {
            throw PipelineFailure(message: "rank \(rank): the stage returned \(logits.count) logits for "
                                  + "\(sampling.count) rows of \(vocab)")
        }
        var entries: [SampleState.Entry] = []
        try logits.withUnsafeBufferPointer { all in
            for (row, arrival) in sampling.enumerated() {
                guard let state = table.requests[arrival] else { continue }
                let rowLogits = UnsafeBufferPointer(rebasing: all[row * vocab..<(row + 1) * vocab])
                let token = try sampleToken(for: state, logits: rowLogits)
                if state.request.sampling.logprobs != nil { state.unsentDiff.logprobs.append(token) }
                if state.request.returnLogits { state.unsentDiff.logits.append(Array(rowLogits)) }
                entries.append(SampleState.Entry(token: token.tokenID, diff: state.unsentDiff))
                state.unsentDiff = ResponseDiff()
            }
        }
        return SampleState(iteration: iteration, entries: entries)
    }

    // MARK: Steps 5 and 6

    private func countExecuted(launched: Bool) throws -> Int {
        guard isFirst else {
            setup.monitor.checkpoint(.receiveCount, iteration: iteration)
            let bytes = try timed(\.upstreamWaitSeconds, .waitCount) {
                try upstream.receive(from: rank - 1, tag: .executedCount, watching: lifeline)
            }
            try passDownstream(bytes, tag: .executedCount, slots: &countSends)
            let message = try ExecutedCount(decoding: bytes)
            guard message.iteration == iteration, message.count <= outstanding else {
                throw PipelineFailure(message: "rank \(rank) got a count of \(message.count) for iteration "
                                      + "\(message.iteration) in iteration \(iteration) with \(outstanding) outstanding")
            }
            return message.count
        }
        var minimum = max(0, outstanding - (slotLimit - 1))
        if !launched && outstanding > 0 { minimum = max(minimum, 1) }
        setup.monitor.checkpoint(.count, iteration: iteration)
        let available = try timed(\.relayWaitSeconds, minimum > 0 ? .waitRelay : nil) {
            try setup.relay.output.waitForCount(atLeast: minimum, watching: lifeline)
        }
        let count = setup.options.asynchronous ? available : minimum
        if setup.size > 1 {
            try passDownstream(ExecutedCount(iteration: iteration, count: count).encoded(), tag: .executedCount,
                               slots: &countSends)
        }
        return count
    }

    // MARK: Step 7

    /// Handles the next `count` executed batches, FIFO; returns their iterations.
    private func handle(_ count: Int) throws -> [Int] {
        setup.monitor.checkpoint(.handle, iteration: iteration)
        let start = DispatchTime.now().uptimeNanoseconds
        var handled: [Int] = []
        defer { if count > 0 { traced(.handle, since: start, detail: handled.map(String.init).joined(separator: ",")) } }
        for _ in 0..<count {
            let batch = try timed(\.relayWaitSeconds) { try setup.relay.output.take(watching: lifeline) }
            guard let state = batch.state, state.entries.count == batch.sampling.count else {
                throw PipelineFailure(message: "rank \(rank): executed batch of iteration \(batch.iteration) has no sample state")
            }
            for (arrival, entry) in zip(batch.sampling, state.entries) {
                try apply(entry, to: arrival, batch: batch.iteration)
            }
            outstanding -= 1
            handled.append(batch.iteration)
        }
        return handled
    }

    private func apply(_ entry: SampleState.Entry, to arrival: Int, batch: Int) throws {
        guard let state = table.requests[arrival] else { return }  // cancelled while its token was in flight
        guard state.inFlight else {
            throw PipelineFailure(message: "rank \(rank): request #\(arrival) got a token from iteration \(batch) "
                                  + "but is not in flight here")
        }
        state.inFlight = false
        let text = state.append(SampledToken(tokenID: entry.token, logprob: 0), contextLength: table.contextLength)
        if isFirst { clients.emit(state, token: entry.token, text: text, diff: entry.diff) }
        if state.finishReason != nil { table.remove(state) }
    }

    // MARK: Step 8

    private func endIteration(_ plan: IterationPlan, handled: [Int]) {
        statistics.iterations += 1
        // Every rank hashes its table at the same iterations (every `hashInterval`-th, or always when observed);
        // the next plan carries rank 0's hash, 0 meaning "not computed".
        let hashed = setup.options.observer != nil || (setup.options.checkLockstep && iteration % Self.hashInterval == 0)
        previousHash = hashed ? table.hash : 0
        record(plan, handled: handled, stops: plan.stop, tableHash: previousHash)  // hashed whenever observed
        publishStatistics()
        iteration += 1
    }

    private func record(_ plan: IterationPlan, handled: [Int], stops: Bool, tableHash: @autoclosure () -> UInt64) {
        guard let observer = setup.options.observer else { return }
        let batch = plan.chunks.map { chunk in
            IterationRecord.Chunk(requestID: table.requests[chunk.arrival]?.request.id ?? "#\(chunk.arrival)",
                                  start: chunk.start, count: chunk.count)
        }
        observer.iterationEnded(IterationRecord(rank: rank, iteration: plan.iteration, batch: batch, handled: handled,
                                                tableHash: tableHash(), inFlight: outstanding,
                                                freeBlocks: table.blocks.freeBlocks,
                                                freeWindowBlocks: table.windowed?.manager.freeBlocks ?? 0, stops: stops))
    }

    func publishStatistics() {
        statistics.inFlight = outstanding
        statistics.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        setup.monitor.publish(statistics)
        if isFirst { publishEngineStatistics() }
    }

    // MARK: Transport helpers

    var upstream: any Communicator {
        get throws {
            guard let communicator = setup.communicator else {
                throw PipelineFailure(message: "rank \(rank) of \(setup.size) has no transport")
            }
            return communicator
        }
    }

    /// Sends `bytes` to the next rank of the request ring (non-blocking), unless this is the last rank.
    func passDownstream(_ bytes: [UInt8], tag: MessageTag, slots: inout SendSlots) throws {
        guard !isLast else { return }
        let channel = try upstream, next = rank + 1
        try slots.send(slot: iteration) { () throws(TransportError) in try channel.send(bytes, to: next, tag: tag) }
    }

    /// Runs `body`, adding its duration to a statistics counter and, when tracing, recording it as `activity`.
    func timed<T>(_ counter: WritableKeyPath<StageStatistics, Double>, _ activity: PipelineTrace.Activity? = nil,
                  batch: Int? = nil, _ body: () throws -> T) throws -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let end = DispatchTime.now().uptimeNanoseconds
            statistics[keyPath: counter] += Double(end - start) / 1e9
            if let activity { recordSpan(activity, from: start, to: end, batch: batch) }
        }
        return try body()
    }

    /// Records `activity` from `start` until now, when tracing or watched live.
    func traced(_ activity: PipelineTrace.Activity, since start: UInt64, batch: Int? = nil, detail: @autoclosure () -> String? = nil) {
        guard setup.options.trace != nil || LiveTrace.shared.isRecording else { return }
        recordSpan(activity, from: start, to: DispatchTime.now().uptimeNanoseconds, batch: batch, detail: detail())
    }

    /// A finished span, into the `--trace` recording and the live view's (each records only when it is on).
    private func recordSpan(_ activity: PipelineTrace.Activity, from start: UInt64, to end: UInt64, batch: Int?,
                        detail: @autoclosure () -> String? = nil) {
        setup.options.trace?.record(activity, rank: rank, from: start, to: end, batch: batch, detail: detail())
        LiveTrace.shared.record(activity, rank: rank, from: start, to: end)
    }
}

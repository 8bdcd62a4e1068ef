import Foundation
import Kernels

/// A micro-batch this rank executed, on its way to being handled: which chunks sampled (by arrival number, in batch
/// order) and, once known, the sample state the last rank produced for it.
struct ExecutedBatch: Sendable {
    let iteration: Int
    /// Arrival numbers of the chunks that sampled a token, in batch order.
    let sampling: [Int]
    var state: SampleState?
    /// `state` as received, forwarded without re-encoding.
    var stateBytes: [UInt8] = []
}

/// The response flow of one rank, on a dedicated OS thread and its own channel: it takes executed batches from the
/// loop, receives each one's sample state from the previous rank of the response ring (last → 0 → 1 → … → n-2),
/// puts the batch on the output queue **before** forwarding it, and forwards with a non-blocking send.
///
/// It never waits on the main loop, and the main loop waits on it only for batches rank 0 already counted, so they
/// are on their way. The last rank receives nothing: its loop already holds the sample state, so `handOver` puts the
/// batch on the output queue and starts the (non-blocking) send to rank 0 itself, saving a thread hop on the path
/// every result takes. With one rank there is no ring at all.
final class Relay: Sendable {
    let rank: Int
    let size: Int
    let channel: (any Communicator)?
    let lifeline: Lifeline
    let slotCount: Int
    let trace: PipelineTrace?
    /// Executed batches from the loop; `nil` is the sentinel that stops the thread.
    let input = BlockingQueue<ExecutedBatch?>()
    /// Batches with their sample state, in execution order, for the loop's step 7.
    let output = BlockingQueue<ExecutedBatch>()
    private let finished = BlockingQueue<Bool>()
    /// The last rank's sends to rank 0 (made from its loop thread).
    private let directSends: Locked<SendSlots>

    init(rank: Int, size: Int, channel: (any Communicator)?, lifeline: Lifeline, slotCount: Int, trace: PipelineTrace? = nil) {
        self.trace = trace
        self.rank = rank
        self.size = size
        self.channel = channel
        self.lifeline = lifeline
        self.slotCount = slotCount
        directSends = Locked(SendSlots(count: slotCount))
    }

    /// Ranks that receive sample states run a relay thread; the last rank (and a single rank) do not.
    var isThreaded: Bool { size > 1 && rank != size - 1 }

    /// Starts the relay thread (not needed with one rank).
    func start() {
        guard isThreaded else { return }
        let thread = Thread { [self] in
            run()
            finished.put(true)
        }
        thread.name = "brigade-relay-\(rank)"
        thread.start()
    }

    /// Step 4 of the loop: hands an executed batch to the relay.
    func handOver(_ batch: ExecutedBatch) throws(TransportError) {
        if isThreaded {
            input.put(batch)
            return
        }
        output.put(batch)
        guard size > 1, let channel else { return }
        let bytes = batch.stateBytes
        try directSends.withLock { sends throws(TransportError) in
            try sends.send(slot: batch.iteration) { () throws(TransportError) in
                try channel.send(bytes, to: 0, tag: .sampleState)
            }
        }
    }

    /// Stops the thread after it relayed everything handed over, and waits for it (or, on the last rank, for its
    /// sends to complete).
    func stop() {
        guard isThreaded else {
            try? directSends.withLock { sends throws(TransportError) in try sends.waitAll() }
            return
        }
        input.put(nil)
        _ = try? finished.take(watching: Lifeline())
    }

    private func run() {
        guard let channel else { return }
        let previous = rank == 0 ? size - 1 : rank - 1
        let next = (rank + 1) % size
        let forwards = rank != size - 2
        var sends = SendSlots(count: slotCount)
        var relayed = 0
        do {
            while let item = try input.take(watching: lifeline) {
                var batch = item
                if batch.state == nil {
                    let waiting = PipelineTrace.now
                    let bytes = try channel.receive(from: previous, tag: .sampleState, watching: lifeline)
                    let now = PipelineTrace.now
                    trace?.record(.relayReceive, rank: rank, onRelay: true, from: waiting, to: now, batch: batch.iteration)
                    LiveTrace.shared.record(.relayReceive, rank: rank, onRelay: true, from: waiting, to: now)
                    let state = try SampleState(decoding: bytes)
                    guard state.iteration == batch.iteration, state.entries.count == batch.sampling.count else {
                        throw PipelineFailure(message: "rank \(rank) relay expected the sample state of iteration "
                            + "\(batch.iteration) (\(batch.sampling.count) tokens), got iteration \(state.iteration) "
                            + "(\(state.entries.count) tokens): the response ring lost FIFO order")
                    }
                    batch.state = state
                    batch.stateBytes = bytes
                }
                output.put(batch)
                if forwards {
                    let bytes = batch.stateBytes
                    try sends.send(slot: relayed) { () throws(TransportError) in
                        try channel.send(bytes, to: next, tag: .sampleState)
                    }
                }
                relayed += 1
            }
            try sends.waitAll()
        } catch let failure as PipelineFailure {
            lifeline.fail(failure.message)  // no-op when it is the lifeline's own failure
        } catch {
            lifeline.fail("rank \(rank) relay: \(error)")
        }
    }
}

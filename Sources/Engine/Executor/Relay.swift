import Foundation

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
/// are on their way. With one rank there is no ring: batches go straight to the output queue.
final class Relay: Sendable {
    let rank: Int
    let size: Int
    let channel: (any Communicator)?
    let lifeline: Lifeline
    let slotCount: Int
    /// Executed batches from the loop; `nil` is the sentinel that stops the thread.
    let input = BlockingQueue<ExecutedBatch?>()
    /// Batches with their sample state, in execution order, for the loop's step 7.
    let output = BlockingQueue<ExecutedBatch>()
    private let finished = BlockingQueue<Bool>()

    init(rank: Int, size: Int, channel: (any Communicator)?, lifeline: Lifeline, slotCount: Int) {
        self.rank = rank
        self.size = size
        self.channel = channel
        self.lifeline = lifeline
        self.slotCount = slotCount
    }

    var isThreaded: Bool { size > 1 }

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
    func handOver(_ batch: ExecutedBatch) {
        if isThreaded { input.put(batch) } else { output.put(batch) }
    }

    /// Stops the thread after it relayed everything handed over, and waits for it.
    func stop() {
        guard isThreaded else { return }
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
                    let bytes = try channel.receive(from: previous, tag: .sampleState, watching: lifeline)
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

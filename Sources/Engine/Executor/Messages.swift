import Model

/// One chunk of the schedule: `count` tokens of request `arrival`, from position `start`.
///
/// Requests are named by their arrival number, which every rank assigns in the same order (intake travels the ring).
struct PlannedChunk: Sendable, Equatable, Hashable {
    var arrival: Int
    var start: Int
    var count: Int
}

/// Everything rank 0 decided in one iteration, sent down the request ring (steps 1 and 2 of the loop in one message):
/// new requests, cancellations, preemptions, the micro-batch, and whether this is the last iteration.
struct IterationPlan: Sendable, Equatable {
    var iteration: Int
    /// New requests in arrival order (seeds already drawn, so every rank holds the same sampling state).
    var admitted: [GenerationRequest] = []
    /// Arrival numbers of requests that end now with `FinishReason.abort`.
    var cancelled: [Int] = []
    /// Arrival numbers of running requests sent back to the waiting queue (their KV blocks freed, recomputed later).
    var preempted: [Int] = []
    /// The micro-batch, in batch order. Empty when rank 0 had nothing to launch this iteration.
    var chunks: [PlannedChunk] = []
    /// The pipeline stops after this iteration (and drains what is still executing).
    var stop = false
    /// Request-table hash of the sending rank at the end of the previous iteration (lockstep check), or 0.
    var tableHash: UInt64 = 0

    func encoded() -> [UInt8] {
        var w = WireWriter(capacity: 64 + chunks.count * 24)
        w.write(iteration)
        w.write(admitted.count)
        for request in admitted { request.encode(into: &w) }
        w.write(cancelled.count)
        cancelled.forEach { w.write($0) }
        w.write(preempted.count)
        preempted.forEach { w.write($0) }
        w.write(chunks.count)
        for chunk in chunks {
            w.write(chunk.arrival)
            w.write(chunk.start)
            w.write(chunk.count)
        }
        w.write(stop)
        w.write(tableHash)
        return w.bytes
    }

    init(iteration: Int) { self.iteration = iteration }

    init(decoding bytes: [UInt8]) throws(WireError) {
        var r = WireReader(bytes)
        iteration = try r.readInt()
        for _ in 0..<(try r.readCount(elementSize: 8)) { admitted.append(try GenerationRequest(from: &r)) }
        for _ in 0..<(try r.readCount(elementSize: 8)) { cancelled.append(try r.readInt()) }
        for _ in 0..<(try r.readCount(elementSize: 8)) { preempted.append(try r.readInt()) }
        for _ in 0..<(try r.readCount(elementSize: 24)) {
            chunks.append(PlannedChunk(arrival: try r.readInt(), start: try r.readInt(), count: try r.readInt()))
        }
        stop = try r.readBool()
        tableHash = try r.read(UInt64.self)
        guard r.isAtEnd else { throw WireError(message: "trailing bytes after the plan of iteration \(iteration)") }
    }
}

/// What changed in one request's results since the last time the last rank sent them: appended log-prob entries and
/// logits rows. The sender resets its diff after sending; rank 0 appends.
struct ResponseDiff: Sendable, Equatable {
    var logprobs: [SampledToken] = []
    var logits: [[Float]] = []

    var isEmpty: Bool { logprobs.isEmpty && logits.isEmpty }
}

/// The sample state of one executed micro-batch, sent from the last rank around the response ring: one entry per
/// chunk that sampled, in batch order (that position is how receivers match entries to requests).
struct SampleState: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var token: Int32
        var diff: ResponseDiff
    }

    var iteration: Int
    var entries: [Entry]

    func encoded() -> [UInt8] {
        var w = WireWriter(capacity: 16 + entries.count * 16)
        w.write(iteration)
        w.write(entries.count)
        for entry in entries {
            w.write(entry.token)
            w.write(logprobs: entry.diff.logprobs)
            w.write(rows: entry.diff.logits)
        }
        return w.bytes
    }

    init(iteration: Int, entries: [Entry]) {
        self.iteration = iteration
        self.entries = entries
    }

    init(decoding bytes: [UInt8]) throws(WireError) {
        var r = WireReader(bytes)
        iteration = try r.readInt()
        entries = []
        for _ in 0..<(try r.readCount(elementSize: 20)) {
            let token = try r.read(Int32.self)
            let diff = ResponseDiff(logprobs: try r.readLogprobs(), logits: try r.readRows())
            entries.append(Entry(token: token, diff: diff))
        }
        guard r.isAtEnd else { throw WireError(message: "trailing bytes after the sample state of iteration \(iteration)") }
    }
}

extension WireWriter {
    /// Sampled tokens with their log-probs and top alternatives (sample states, the supervisor's link).
    public mutating func write(logprobs: [SampledToken]) {
        write(logprobs.count)
        for sampled in logprobs {
            write(sampled.tokenID)
            write(sampled.logprob)
            write(sampled.top.count)
            for top in sampled.top {
                write(top.tokenID)
                write(top.logprob)
            }
        }
    }

    /// Rows of floats (logits), each with its count.
    public mutating func write(rows: [[Float]]) {
        write(rows.count)
        rows.forEach { write($0) }
    }
}

extension WireReader {
    public mutating func readLogprobs() throws(WireError) -> [SampledToken] {
        var logprobs: [SampledToken] = []
        for _ in 0..<(try readCount(elementSize: 20)) {
            let id = try read(Int32.self)
            let logprob = try readDouble()
            var top: [TokenLogprob] = []
            for _ in 0..<(try readCount(elementSize: 12)) { top.append(TokenLogprob(tokenID: try read(Int32.self), logprob: try readDouble())) }
            logprobs.append(SampledToken(tokenID: id, logprob: logprob, top: top))
        }
        return logprobs
    }

    public mutating func readRows() throws(WireError) -> [[Float]] {
        var rows: [[Float]] = []
        for _ in 0..<(try readCount(elementSize: 8)) { rows.append(try readFloats()) }
        return rows
    }
}

/// How many executed batches every rank handles in an iteration (step 6), tagged with the iteration for checking.
struct ExecutedCount: Sendable, Equatable {
    var iteration: Int
    var count: Int

    func encoded() -> [UInt8] {
        var w = WireWriter(capacity: 16)
        w.write(iteration)
        w.write(count)
        return w.bytes
    }

    init(iteration: Int, count: Int) {
        self.iteration = iteration
        self.count = count
    }

    init(decoding bytes: [UInt8]) throws(WireError) {
        var r = WireReader(bytes)
        iteration = try r.readInt()
        count = try r.readInt()
        guard r.isAtEnd, count >= 0 else { throw WireError(message: "bad executed-batch count message") }
    }
}

extension GenerationRequest {
    /// Writes the request in the executor's binary form (the ring's intake messages, the supervisor's link).
    public func encode(into w: inout WireWriter) {
        w.write(id)
        w.write(promptTokenIDs)
        let s = sampling
        w.write(s.temperature)
        w.write(s.topK)
        w.write(s.topP)
        w.write(s.minP)
        w.write(s.repetitionPenalty)
        w.write(s.presencePenalty)
        w.write(s.frequencyPenalty)
        w.write(s.seed != nil)
        w.write(s.seed ?? 0)
        w.write(s.logprobs ?? -1)
        w.write(maxTokens)
        w.write(minTokens)
        w.write(stopTokenIDs)
        w.write(stopStrings.count)
        stopStrings.forEach { w.write($0) }
        w.write(ignoreEOS)
        w.write(returnLogits)
        w.write(resumedTokenIDs)
        w.write(grammar != nil)
        w.write(grammar ?? "")
    }

    /// Reads a request written by `encode(into:)`.
    public init(from r: inout WireReader) throws(WireError) {
        let id = try r.readString()
        let prompt = try r.readInt32s()
        var s = SamplingParameters()
        s.temperature = try r.readFloat()
        s.topK = try r.readInt()
        s.topP = try r.readFloat()
        s.minP = try r.readFloat()
        s.repetitionPenalty = try r.readFloat()
        s.presencePenalty = try r.readFloat()
        s.frequencyPenalty = try r.readFloat()
        let hasSeed = try r.readBool()
        let seed = try r.read(UInt64.self)
        s.seed = hasSeed ? seed : nil
        let logprobs = try r.readInt()
        s.logprobs = logprobs < 0 ? nil : logprobs
        let maxTokens = try r.readInt()
        let minTokens = try r.readInt()
        let stopTokens = try r.readInt32s()
        var stopStrings: [String] = []
        for _ in 0..<(try r.readCount(elementSize: 8)) { stopStrings.append(try r.readString()) }
        self.init(id: id, promptTokenIDs: prompt, sampling: s, maxTokens: maxTokens, minTokens: minTokens,
                  stopTokenIDs: stopTokens, stopStrings: stopStrings, ignoreEOS: try r.readBool(),
                  returnLogits: try r.readBool())
        resumedTokenIDs = try r.readInt32s()
        let constrained = try r.readBool()
        let grammar = try r.readString()
        self.grammar = constrained ? grammar : nil
    }
}

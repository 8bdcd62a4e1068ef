import Engine
import Foundation
import Model

/// What the supervisor and the ranks of its pipeline tell each other. Every rank connects to the supervisor and
/// says `hello`; both sides then send `heartbeat`s, so each notices the other's death or silence. Rank 0's link also
/// carries the requests (`submit`, `cancel`, `shutdown`) and their updates (`output`, `rejected`).
enum LinkMessage: Sendable {
    /// A rank of a job joins: the job's token, its place in the pipeline, and where it runs (`bootID` tells whether
    /// it shares the supervisor's kernel, so its pid may be signalled from here).
    case hello(token: String, rank: Int, size: Int, pid: Int32, host: String, bootID: String)
    /// Rank 0's engine runs and takes requests within these limits.
    case ready(RequestLimits)
    /// I am alive. From rank 0, with its counters.
    case heartbeat(RankCounters?)
    case submit(GenerationRequest)
    case cancel(id: String)
    case output(RequestOutput)
    /// The request ended with an error on rank 0 (refused, or the pipeline failed).
    case rejected(id: String, error: EngineError)
    case shutdown(drain: Bool)
    /// The rank's pipeline ended; why (empty: a clean stop).
    case goodbye(reason: String)

    private enum Kind: UInt8 {
        case hello = 1, ready, heartbeat, submit, cancel, output, rejected, shutdown, goodbye
    }

    func encoded() -> (kind: UInt8, payload: [UInt8]) {
        var w = WireWriter()
        let kind: Kind
        switch self {
        case .hello(let token, let rank, let size, let pid, let host, let bootID):
            kind = .hello
            w.write(token); w.write(rank); w.write(size); w.write(pid); w.write(host); w.write(bootID)
        case .ready(let limits):
            kind = .ready
            limits.encode(into: &w)
        case .heartbeat(let counters):
            kind = .heartbeat
            w.write(counters != nil)
            counters?.encode(into: &w)
        case .submit(let request):
            kind = .submit
            request.encode(into: &w)
        case .cancel(let id):
            kind = .cancel
            w.write(id)
        case .output(let output):
            kind = .output
            output.encode(into: &w)
        case .rejected(let id, let error):
            kind = .rejected
            w.write(id)
            error.encode(into: &w)
        case .shutdown(let drain):
            kind = .shutdown
            w.write(drain)
        case .goodbye(let reason):
            kind = .goodbye
            w.write(reason)
        }
        return (kind.rawValue, w.bytes)
    }

    init(kind rawKind: UInt8, payload: [UInt8]) throws(WireError) {
        guard let kind = Kind(rawValue: rawKind) else { throw WireError(message: "unknown link message kind \(rawKind)") }
        var r = WireReader(payload)
        switch kind {
        case .hello:
            self = .hello(token: try r.readString(), rank: try r.readInt(), size: try r.readInt(), pid: try r.read(Int32.self),
                          host: try r.readString(), bootID: try r.readString())
        case .ready: self = .ready(try RequestLimits(from: &r))
        case .heartbeat: self = .heartbeat(try r.readBool() ? try RankCounters(from: &r) : nil)
        case .submit: self = .submit(try GenerationRequest(from: &r))
        case .cancel: self = .cancel(id: try r.readString())
        case .output: self = .output(try RequestOutput(from: &r))
        case .rejected: self = .rejected(id: try r.readString(), error: try EngineError(from: &r))
        case .shutdown: self = .shutdown(drain: try r.readBool())
        case .goodbye: self = .goodbye(reason: try r.readString())
        }
        guard r.isAtEnd else { throw WireError(message: "trailing bytes after a link message of kind \(rawKind)") }
    }
}

/// Rank 0's counters, sent with its heartbeats (the supervisor's /metrics read them).
struct RankCounters: Sendable, Equatable {
    var engine: EngineStatistics
    var stage: StageStatistics

    func encode(into w: inout WireWriter) {
        let e = engine
        for value in [e.steps, e.promptTokens, e.generatedTokens, e.preemptions, e.running, e.waiting, e.usedBlocks, e.usedWindowBlocks,
                      e.prefixCacheQueries, e.prefixCacheHits, e.cachedBlocks] {
            w.write(value)
        }
        w.write(e.forwardSeconds)
        let s = stage
        for value in [s.rank, s.layers.lowerBound, s.layers.upperBound, s.iterations, s.microBatches, s.tokens, s.inFlight, s.maxInFlight] {
            w.write(value)
        }
        for value in [s.forwardSeconds, s.upstreamWaitSeconds, s.relayWaitSeconds, s.idleSeconds, s.wallSeconds] { w.write(value) }
    }

    init(engine: EngineStatistics, stage: StageStatistics) {
        self.engine = engine
        self.stage = stage
    }

    init(from r: inout WireReader) throws(WireError) {
        var e = EngineStatistics()
        e.steps = try r.readInt(); e.promptTokens = try r.readInt(); e.generatedTokens = try r.readInt()
        e.preemptions = try r.readInt(); e.running = try r.readInt(); e.waiting = try r.readInt()
        e.usedBlocks = try r.readInt(); e.usedWindowBlocks = try r.readInt()
        e.prefixCacheQueries = try r.readInt(); e.prefixCacheHits = try r.readInt(); e.cachedBlocks = try r.readInt()
        e.forwardSeconds = try r.readDouble()
        engine = e
        let rank = try r.readInt(), lower = try r.readInt(), upper = try r.readInt()
        guard lower <= upper else { throw WireError(message: "a stage's layers \(lower)..<\(upper)") }
        var s = StageStatistics(rank: rank, layers: lower..<upper)
        s.iterations = try r.readInt(); s.microBatches = try r.readInt(); s.tokens = try r.readInt()
        s.inFlight = try r.readInt(); s.maxInFlight = try r.readInt()
        s.forwardSeconds = try r.readDouble(); s.upstreamWaitSeconds = try r.readDouble(); s.relayWaitSeconds = try r.readDouble()
        s.idleSeconds = try r.readDouble(); s.wallSeconds = try r.readDouble()
        stage = s
    }
}

extension RequestLimits {
    func encode(into w: inout WireWriter) {
        for value in [vocabSize, contextLength, blockSize, blockCount, window ?? -1, windowBlockCount, maxBatchedTokens] { w.write(value) }
        w.write(supportsGrammars)
    }

    init(from r: inout WireReader) throws(WireError) {
        let vocab = try r.readInt(), context = try r.readInt(), blockSize = try r.readInt(), blocks = try r.readInt()
        let window = try r.readInt()
        self.init(vocabSize: vocab, contextLength: context, blockSize: blockSize, blockCount: blocks, window: window < 0 ? nil : window,
                  windowBlockCount: try r.readInt(), maxBatchedTokens: try r.readInt(), supportsGrammars: try r.readBool())
    }
}

extension RequestOutput {
    func encode(into w: inout WireWriter) {
        w.write(requestID)
        w.write(newTokenIDs)
        w.write(textDelta)
        w.write(logprobs: logprobs)
        w.write(rows: logits)
        w.write(finishReason?.rawValue ?? "")
        w.write(usage.promptTokens)
        w.write(usage.completionTokens)
        w.write(usage.cachedPromptTokens)
    }

    init(from r: inout WireReader) throws(WireError) {
        let id = try r.readString()
        let tokens = try r.readInt32s()
        let text = try r.readString()
        let logprobs = try r.readLogprobs()
        let logits = try r.readRows()
        let reason = try r.readString()
        guard reason.isEmpty || FinishReason(rawValue: reason) != nil else { throw WireError(message: "finish reason \(reason)") }
        self.init(requestID: id, newTokenIDs: tokens, textDelta: text, logprobs: logprobs, logits: logits,
                  finishReason: FinishReason(rawValue: reason), usage: Usage(promptTokens: try r.readInt(), completionTokens: try r.readInt(),
                                                                               cachedPromptTokens: try r.readInt()))
    }
}

extension EngineError {
    func encode(into w: inout WireWriter) {
        switch self {
        case .invalidRequest(let parameter, let message): w.write(UInt8(0)); w.write(parameter); w.write(message)
        case .duplicateRequestID(let id): w.write(UInt8(1)); w.write(id)
        case .shutDown: w.write(UInt8(2))
        case .failed(let message): w.write(UInt8(3)); w.write(message)
        }
    }

    init(from r: inout WireReader) throws(WireError) {
        switch try r.read(UInt8.self) {
        case 0: self = .invalidRequest(parameter: try r.readString(), message: try r.readString())
        case 1: self = .duplicateRequestID(try r.readString())
        case 2: self = .shutDown
        case 3: self = .failed(try r.readString())
        case let other: throw WireError(message: "engine error kind \(other)")
        }
    }
}

extension LinkSocket {
    func send(_ message: LinkMessage) throws(LinkError) {
        let (kind, payload) = message.encoded()
        try send(kind: kind, payload: payload)
    }

    /// The next message, nil after `timeout` seconds without one.
    func receiveMessage(timeout: Double) throws(LinkError) -> LinkMessage? {
        guard let (kind, payload) = try receive(timeout: timeout) else { return nil }
        do { return try LinkMessage(kind: kind, payload: payload) } catch { throw LinkError("\(error)") }
    }
}

/// Where a job's ranks find their supervisor: `host:port/token` (the token tells this job's ranks from anything
/// else that connects).
public struct LinkAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var token: String

    public init(host: String, port: Int, token: String) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// Parses `host:port/token` (`[v6]:port/token` for IPv6).
    public init(parsing text: String) throws(LinkError) {
        guard let slash = text.lastIndex(of: "/"), let colon = text[..<slash].lastIndex(of: ":"),
              let port = Int(text[text.index(after: colon)..<slash]), (1...65535).contains(port) else {
            throw LinkError("the supervisor link \(text) is not host:port/token")
        }
        host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = port
        token = String(text[text.index(after: slash)...])
        guard !host.isEmpty, !token.isEmpty else { throw LinkError("the supervisor link \(text) is not host:port/token") }
    }

    public var description: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)/\(token)" }
}

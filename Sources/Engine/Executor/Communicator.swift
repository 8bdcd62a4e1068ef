/// Kinds of messages between pipeline ranks. Each kind has its own tag so receives of one kind never match another;
/// order is FIFO per (channel, sender, receiver, tag).
public enum MessageTag: Int32, Sendable, CaseIterable {
    /// New requests, cancellations and shutdown, travelling the request ring (0 → 1 → … → n-1).
    case requests = 20_004
    /// The batch rank 0 scheduled for an iteration.
    case schedule = 20_001
    /// How many executed batches every rank must handle this iteration.
    case executedCount = 20_002
    /// Sample state and per-request diffs, travelling the response ring (on the relay channel).
    case sampleState = 20_003
    /// Hidden states between consecutive stages.
    case activations = 20_005
    /// A rank stopping the pipeline after a fatal error.
    case termination = 20_000
    /// Small round trips that measure a transport's per-hop latency (benchmarks; never during a pipeline run).
    case latencyProbe = 20_006
}

/// Why a transport operation failed.
public enum TransportError: Error, CustomStringConvertible, Equatable {
    /// The peer is gone (its process died, or it closed the channel).
    case peerLost(rank: Int, detail: String)
    /// No message arrived within the allowed time.
    case timedOut(rank: Int, tag: MessageTag, seconds: Double)
    /// The channel was closed on this side (shutdown or abort).
    case closed
    case invalidRank(Int, size: Int)
    /// The transport itself reported an error (an MPI error code, a message too large).
    case failed(String)

    public var description: String {
        switch self {
        case .peerLost(let rank, let detail): return "lost rank \(rank): \(detail)"
        case .timedOut(let rank, let tag, let seconds): return "no \(tag) message from rank \(rank) within \(seconds) s"
        case .closed: return "the transport channel is closed"
        case .invalidRank(let rank, let size): return "rank \(rank) is outside 0..<\(size)"
        case .failed(let message): return message
        }
    }
}

/// An in-flight non-blocking send. The transport owns the payload until the send completes.
public protocol SendRequest: Sendable {
    /// Whether the send has completed (the payload may be reused); makes progress on the transport.
    func test() throws(TransportError) -> Bool
    /// Blocks until the send has completed, making progress meanwhile.
    func wait() throws(TransportError)
}

/// Point-to-point messaging between the ranks of one pipeline: the seam between the executor and a transport
/// (threads of one process, or MPI processes).
///
/// Sends never block the caller; receives block only the calling thread (and must not burn a core while they wait).
public protocol Communicator: Sendable {
    var rank: Int { get }
    var size: Int { get }
    /// Starts sending `payload` to `destination`; the transport keeps it alive until the send completes.
    func send(_ payload: [UInt8], to destination: Int, tag: MessageTag) throws(TransportError) -> any SendRequest
    /// Waits for the next message with `tag` from `source` (FIFO), up to `timeout` seconds (nil: no limit).
    func receive(from source: Int, tag: MessageTag, timeout: Double?) throws(TransportError) -> [UInt8]
    /// Whether a message with `tag` from `source` is waiting (never blocks).
    func probe(from source: Int, tag: MessageTag) throws(TransportError) -> Bool
    /// A separate channel between the same ranks (for the relay thread): its messages never match this one's.
    /// Must be called by every rank in the same order, on the main thread, before any thread uses either channel.
    func duplicate() throws(TransportError) -> any Communicator
}

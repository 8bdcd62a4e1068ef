import Foundation
import Kernels

/// What one pipeline rank did since it started: where its time went and how full the pipe was.
public struct StageStatistics: Sendable, Equatable {
    public var rank: Int
    public var layers: Range<Int>
    /// Loop iterations (identical on every rank).
    public var iterations = 0
    /// Micro-batches this rank ran through its stage.
    public var microBatches = 0
    /// Tokens this rank ran through its stage.
    public var tokens = 0
    /// Time in the stage's forward pass (and sampling, on the last rank).
    public var forwardSeconds = 0.0
    /// Time blocked on upstream data: the plan, activations and the executed-batch count.
    public var upstreamWaitSeconds = 0.0
    /// Time waiting for executed batches from the relay (rank 0's count step, and every rank's handle step).
    public var relayWaitSeconds = 0.0
    /// Time with nothing to do at all (rank 0 waiting for requests, other ranks waiting for an idle rank 0).
    public var idleSeconds = 0.0
    /// Time since the rank started.
    public var wallSeconds = 0.0
    /// Executed micro-batches not yet handled (launched and still in the pipe or the response ring).
    public var inFlight = 0
    /// The most micro-batches ever in flight at once.
    public var maxInFlight = 0

    public init(rank: Int, layers: Range<Int>) {
        self.rank = rank
        self.layers = layers
    }

    /// Fraction of the rank's lifetime spent in forward passes.
    public var busyFraction: Double { wallSeconds > 0 ? forwardSeconds / wallSeconds : 0 }
}

/// The loop step a rank is in, for the watchdog's message.
enum PipelineStep: String, Sendable {
    case intake = "taking new requests"
    case plan = "waiting for the plan from upstream"
    case activations = "waiting for activations from upstream"
    case forward = "running its stage forward"
    case count = "waiting for executed batches from its relay"
    case receiveCount = "waiting for the executed-batch count from upstream"
    case handle = "handling executed batches"
    case drain = "draining at shutdown"

    /// The step as the watchdog reports it for `rank` of `size`, naming the rank it waits on: a rank can only see
    /// its own progress, so across processes this is what points at the stalled one.
    func description(rank: Int, size: Int) -> String {
        switch self {
        case .plan where rank > 0: return "waiting for the plan from rank \(rank - 1)"
        case .activations where rank > 0: return "waiting for activations from rank \(rank - 1)"
        case .receiveCount where rank > 0: return "waiting for the executed-batch count from rank \(rank - 1)"
        case .count, .handle, .drain:
            guard size > 1 else { return rawValue }
            let source = rank == 0 ? size - 1 : rank - 1
            return rawValue + " (sample states come from rank \(source)" + (rank == 0 ? ", the last rank)" : ")")
        default: return rawValue
        }
    }

    /// Whether the rank is waiting for another thread or rank (rather than working itself).
    var isWaiting: Bool {
        switch self {
        case .plan, .activations, .count, .receiveCount, .handle, .drain: return true  // handle waits for the relay
        case .intake, .forward: return false
        }
    }
}

/// One rank's progress checkpoint and counters, shared with the watchdog and the engine's statistics readers.
final class RankMonitor: Sendable {
    struct Checkpoint: Sendable {
        var iteration = 0
        var step = PipelineStep.intake
        var since = DispatchTime.now().uptimeNanoseconds
        /// Waiting with no work anywhere in the pipeline: not a stall.
        var idle = true
    }

    let rank: Int
    private let state: Locked<(checkpoint: Checkpoint, statistics: StageStatistics)>

    init(rank: Int, layers: Range<Int>) {
        self.rank = rank
        state = Locked((Checkpoint(), StageStatistics(rank: rank, layers: layers)))
    }

    func checkpoint(_ step: PipelineStep, iteration: Int, idle: Bool = false) {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { $0.checkpoint = Checkpoint(iteration: iteration, step: step, since: now, idle: idle) }
    }

    var lastCheckpoint: Checkpoint { state.withLock { $0.checkpoint } }

    func publish(_ statistics: StageStatistics) {
        state.withLock { $0.statistics = statistics }
    }

    var statistics: StageStatistics { state.withLock { $0.statistics } }
}

/// Turns a stall into an error: a dedicated thread checks every rank's checkpoint, and when a rank with work
/// outstanding has not moved for `timeout` seconds it fails the pipeline, naming the culprit: the rank longest in a
/// step of its own (a forward pass, say), else the rank that has waited longest.
final class Watchdog: Sendable {
    private let monitors: [RankMonitor]
    private let lifeline: Lifeline
    private let timeout: Double
    private let stopped = Locked(false)

    /// Ranks in the whole pipeline (this process may host fewer).
    private let size: Int

    init(monitors: [RankMonitor], lifeline: Lifeline, timeout: Double, size: Int) {
        self.size = size
        self.monitors = monitors
        self.lifeline = lifeline
        self.timeout = timeout
    }

    func start() {
        guard timeout > 0 else { return }
        let thread = Thread { [self] in run() }
        thread.name = "brigade-watchdog"
        thread.start()
    }

    func stop() { stopped.withLock { $0 = true } }

    private func run() {
        let interval = min(1.0, timeout / 5)
        while !stopped.withLock({ $0 }) && lifeline.failure == nil {
            Thread.sleep(forTimeInterval: interval)
            let checkpoints = monitors.map { ($0.rank, $0.lastCheckpoint) }
            // Read the clock after the checkpoints, so no checkpoint is newer than `now`.
            let now = DispatchTime.now().uptimeNanoseconds
            func age(_ checkpoint: RankMonitor.Checkpoint) -> Double {
                Double(now > checkpoint.since ? now - checkpoint.since : 0) / 1e9
            }
            let stale = checkpoints.filter { !$0.1.idle && age($0.1) > timeout }
            // Ranks that wait are waiting for someone: once anything is stale, a rank busy in a step of its own
            // (however recently it entered it) is the head of the stall.
            let working = checkpoints.filter { !$0.1.idle && !$0.1.step.isWaiting }
            let stalled = stale.isEmpty ? nil : (working.isEmpty ? stale : working).min { $0.1.since < $1.1.since }
            if let (rank, checkpoint) = stalled, !stopped.withLock({ $0 }) {
                let seconds = age(checkpoint)
                lifeline.fail("watchdog: rank \(rank) made no progress for \(String(format: "%.1f", seconds)) s while "
                    + "\(checkpoint.step.description(rank: rank, size: size)) in iteration \(checkpoint.iteration); the pipeline stopped "
                    + "(raise --pp-watchdog-seconds if a stage legitimately takes longer)")
            }
        }
    }
}

/// One rank's view of one iteration, for tests and debugging (see `EngineOptions.observer`).
public struct IterationRecord: Sendable, Equatable {
    public struct Chunk: Sendable, Equatable, Hashable {
        public var requestID: String
        public var start: Int
        public var count: Int
    }

    public var rank: Int
    public var iteration: Int
    /// The micro-batch this rank ran in the iteration.
    public var batch: [Chunk]
    /// Iterations of the executed batches this rank handled in the iteration (step 7), in order.
    public var handled: [Int]
    /// Hash of the rank's request table at the end of the iteration.
    public var tableHash: UInt64
    public var inFlight: Int
    public var freeBlocks: Int
    /// Free blocks of the sliding-window layers' pool (0 without one).
    public var freeWindowBlocks: Int
    /// Whether the pipeline stops after this iteration.
    public var stops: Bool
}

/// Receives every rank's `IterationRecord`s (from the ranks' loop threads; implementations must be thread-safe).
public protocol PipelineObserver: Sendable {
    func iterationEnded(_ record: IterationRecord)
}

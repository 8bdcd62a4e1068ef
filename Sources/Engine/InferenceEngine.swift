import Foundation
import Kernels
import Model
import Synchronization

/// Engine settings.
public struct EngineOptions: Sendable {
    /// Token budget of one micro-batch (prefill chunks + decodes).
    public var maxBatchedTokens = 2048
    /// Maximum sequences in one micro-batch.
    public var maxSequences = 256
    /// Tokens per KV cache block.
    public var blockSize = 16
    /// Memory for the whole model's KV cache, in MiB; each rank holds its layers' share.
    public var kvCacheMiB = 512
    /// Number of pipeline stages (ranks).
    public var pipelineStages = 1
    /// Layers per stage, e.g. `[8, 8, 7, 7]`; nil splits the layers to balance the stages' cost.
    public var partition: [Int]?
    /// The non-blocking executor (default). False selects sync mode: rank 0 keeps at most `pipelineStages`
    /// micro-batches in flight and waits, every iteration, for the oldest one once the pipe holds that many — the
    /// classic lockstep loop, token-identical, for debugging and comparison.
    public var asynchronous = true
    /// Micro-batch slots (in-flight records and send handles); nil: `max(pipelineStages, 1024)` (async mode).
    public var slots: Int?
    /// A rank with work that makes no progress for this long stops the pipeline with an error; 0 disables.
    public var watchdogSeconds = 300.0
    /// Ranks compare request-table hashes every iteration and stop if they ever differ.
    public var checkLockstep = true
    /// Receives every rank's per-iteration record (tests, debugging).
    public var observer: (any PipelineObserver)?
    /// KV blocks per rank instead of the count derived from `kvCacheMiB` (to test ranks configured differently).
    public var kvBlocksByRank: [Int]?
    /// Records every hosted rank's timeline (see `PipelineTrace`); nil records nothing.
    public var trace: PipelineTrace?
    /// The longest sequence (prompt + output) served, when shorter than the model's context (`--max-model-len`).
    public var maxModelLength: Int?
    /// Automatic prefix caching: a request starts after the longest prefix of whole KV blocks a finished or running
    /// request left in the cache, with bit-identical results (the kernels are batch-invariant). Rank 0's choice;
    /// every rank keeps the cache, so ranks configured differently still agree.
    public var prefixCaching = true

    /// The longest sequence `model` may reach under these options.
    public func contextLength(of model: any PipelineModel) -> Int {
        min(model.contextLength, maxModelLength ?? .max)
    }

    public init() {}

    /// The slot count `M` the loop uses.
    public func slotCount(stages: Int) -> Int {
        asynchronous ? max(slots ?? max(stages, 1024), 1) : stages
    }
}

/// Runs generation requests on a model split into pipeline stages, with continuous batching.
///
/// Every stage runs on its own rank thread (or, with MPI, in another process); rank 0 lives in this object and
/// answers clients. `submit` returns a stream of `RequestOutput` updates; dropping the stream (e.g. a client that
/// disconnects) cancels the request.
public final class InferenceEngine: Sendable {
    public let model: any PipelineModel
    public let options: EngineOptions
    public let partition: StagePartition
    /// How the KV budget is split into block pools (identical on every rank).
    public let kvLayout: KVCacheLayout
    /// KV cache blocks of the full pool (identical on every rank).
    public var blockCount: Int { kvLayout.blockCount }
    /// KV cache blocks of the sliding-window layers' pool (0 for models without such layers).
    public var windowBlockCount: Int { kvLayout.windowBlockCount }
    let inbox = Inbox()
    let launch: PipelineLaunch
    var lifeline: Lifeline { launch.lifeline }

    /// Starts the ranks hosted in this process.
    /// - Parameters:
    ///   - communicators: one per rank run in this process (rank 0 among them), all of size
    ///     `options.pipelineStages`; empty for a single stage. Ranks hosted elsewhere run a `PipelineWorker`.
    public init(model: any PipelineModel, options: EngineOptions = EngineOptions(),
                communicators: [any Communicator] = []) throws {
        let hosted = try Self.hostedRanks(communicators, stages: options.pipelineStages)
        launch = try PipelineLaunch(model: model, options: options, hosted: hosted, inbox: inbox)
        self.model = model
        self.options = options
        partition = launch.partition
        kvLayout = launch.layout
        launch.lifeline.onFailure { [inbox] in inbox.post { $0.failure = $0.failure ?? "the pipeline stopped" } }
        launch.start()
    }

    private static func hostedRanks(_ communicators: [any Communicator], stages: Int) throws -> [(Int, (any Communicator)?)] {
        guard !communicators.isEmpty else {
            guard stages == 1 else {
                throw EngineError.failed("\(stages) pipeline stages need a transport; use InferenceEngine.inProcess "
                                         + "(module Transport) for ranks as threads of this process")
            }
            return [(0, nil)]
        }
        let ranks = communicators.map(\.rank)
        guard communicators.allSatisfy({ $0.size == stages }), Set(ranks).count == ranks.count,
              ranks.contains(0), ranks.allSatisfy({ (0..<stages).contains($0) }) else {
            throw EngineError.failed("communicators for ranks \(ranks) (sizes \(communicators.map(\.size))) do not fit "
                                     + "\(stages) stages with rank 0 hosted here")
        }
        return communicators.sorted { $0.rank < $1.rank }.map { ($0.rank, $0) }
    }

    deinit {
        inbox.post { $0.shutdown = .abort }
        launch.watchdog.stop()
    }

    /// Submits a request; its updates arrive on the returned stream, the last one with a finish reason.
    public func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<RequestOutput, any Error> {
        let request = try tokenized(request)
        try validate(request)
        let (stream, continuation) = AsyncThrowingStream<RequestOutput, any Error>.makeStream()
        let id = request.id
        let accepted = inbox.post { state -> Bool in
            guard state.shutdown == nil, state.failure == nil, !state.closed else { return false }
            guard state.live.insert(id).inserted else { return false }
            state.submitted.append((request, continuation))
            return true
        }
        guard accepted else {
            let (stopped, failure) = inbox.read { ($0.shutdown != nil || $0.closed, $0.failure) }
            if let failure { throw EngineError.failed(lifeline.failure ?? failure) }
            throw stopped ? EngineError.shutDown : EngineError.duplicateRequestID(id)
        }
        continuation.onTermination = { [inbox] reason in
            if case .cancelled = reason { inbox.post { $0.cancelled.append(id) } }
        }
        return stream
    }

    /// Cancels a request on every rank: it finishes with `FinishReason.abort` and frees its cache blocks.
    public func cancel(_ id: String) {
        inbox.post { $0.cancelled.append(id) }
    }

    /// Stops the engine. With `drain`, running and waiting requests finish first; otherwise they end with `abort`.
    /// Returns when every rank hosted here has stopped (after a failure, after at most a few seconds).
    public func shutdown(drain: Bool = true) {
        inbox.post { if $0.shutdown != .abort { $0.shutdown = drain ? .drain : .abort } }
        launch.join()
    }

    /// The longest sequence (prompt + output) this engine serves: the model's context, or `maxModelLength`.
    public var contextLength: Int { options.contextLength(of: model) }

    /// Tokens the KV cache holds: the total length of the sequences it can hold at once (each rank holds its
    /// layers' share of every token). Sliding-window layers keep only each sequence's window, in a pool of their own
    /// (`windowBlockCount`), so for a model with them this counts the global layers' pool.
    public var kvCapacityTokens: Int { kvLayout.capacityTokens }

    /// Rank 0's counters.
    public var statistics: EngineStatistics { inbox.read { $0.statistics } }

    /// Per-rank counters of the ranks hosted in this process.
    public var stageStatistics: [StageStatistics] { launch.monitors.map(\.statistics) }

    /// Why the pipeline stopped, if it failed.
    public var failure: String? { lifeline.failure }

    /// `request` with `promptText` turned into `promptTokenIDs`.
    public func tokenized(_ request: GenerationRequest) throws(EngineError) -> GenerationRequest {
        guard let text = request.promptText else { return request }
        guard request.promptTokenIDs.isEmpty else {
            throw EngineError.invalidRequest(parameter: "prompt", message: "give the prompt as text or as token ids, not both")
        }
        var tokenized = request
        do {
            tokenized.promptTokenIDs = try model.encode(text)
        } catch let error as EngineError {
            throw error
        } catch {
            throw EngineError.invalidRequest(parameter: "prompt", message: "the prompt could not be tokenized: \(error)")
        }
        tokenized.promptText = nil
        return tokenized
    }

    /// Checks a request as `submit` does, without submitting it (a text prompt must be `tokenized` first).
    public func validate(_ request: GenerationRequest) throws(EngineError) { try limits.validate(request) }

    /// Stops the pipeline as a failed one, with `message` as the failure (a supervisor that saw part of the pipeline
    /// die): every open stream ends with `EngineError.failed`.
    public func fail(_ message: String) {
        lifeline.fail(message)
    }

    /// Calls `handler` with the failure once the pipeline fails (at once if it already has), from whichever thread
    /// records it.
    public func onFailure(_ handler: @escaping @Sendable (String) -> Void) {
        let lifeline = self.lifeline, called = Locked(false)
        let once: @Sendable () -> Void = {
            guard called.withLock({ called in defer { called = true }; return !called }) else { return }
            handler(lifeline.failure ?? "the pipeline stopped")
        }
        lifeline.onFailure(once)
        if lifeline.failure != nil { once() }
    }
}

/// Rank 0's counters, updated once per iteration.
public struct EngineStatistics: Sendable, Equatable {
    /// Micro-batches rank 0 launched.
    public var steps = 0
    /// Prompt tokens of admitted requests (once per request, whatever preemption recomputes).
    public var promptTokens = 0
    public var generatedTokens = 0
    public var preemptions = 0
    public var running = 0
    public var waiting = 0
    public var usedBlocks = 0
    /// Blocks of the sliding-window layers' pool in use (0 for models without one).
    public var usedWindowBlocks = 0
    /// Time rank 0 spent in forward passes.
    public var forwardSeconds = 0.0
    /// Tokens of admitted requests that looked for a cached prefix, and how many the prefix cache supplied.
    public var prefixCacheQueries = 0
    public var prefixCacheHits = 0
    /// Full-pool KV blocks in the prefix cache (referenced or not).
    public var cachedBlocks = 0

    public init() {}
}


import Foundation
import Model

/// Engine settings.
public struct EngineOptions: Sendable {
    /// Token budget of one batch (prefill chunks + decodes).
    public var maxBatchedTokens = 2048
    /// Maximum sequences in one batch.
    public var maxSequences = 256
    /// Tokens per KV cache block.
    public var blockSize = 16
    /// Memory for the KV cache, in MiB.
    public var kvCacheMiB = 512

    public init() {}
}

/// Runs generation requests on a model with continuous batching, on a dedicated engine thread.
///
/// `submit` returns a stream of `RequestOutput` updates; dropping the stream (e.g. a client that disconnects) cancels
/// the request. The engine thread sleeps on a condition variable when it has nothing to do.
public final class InferenceEngine: Sendable {
    public let config: LlamaConfig
    public let options: EngineOptions
    public let blockCount: Int
    let inbox = Inbox()
    let eosTokenIDs: [Int32]
    let makeDetokenizer: @Sendable () -> any IncrementalDetokenizer

    /// Starts the engine thread.
    /// - Parameters:
    ///   - stage: a stage with every layer, the embedding and the output head.
    ///   - eosTokenIDs: tokens that end generation unless a request sets `ignoreEOS`.
    ///   - makeDetokenizer: makes a fresh streaming detokenizer for each request.
    public init(stage: LlamaStage, eosTokenIDs: [Int32], options: EngineOptions = EngineOptions(),
                makeDetokenizer: @escaping @Sendable () -> any IncrementalDetokenizer) throws(EngineError) {
        guard stage.hasEmbedding, stage.hasHead, stage.layerRange == 0..<stage.config.layerCount else {
            throw EngineError.failed("a single-process engine needs a stage with every layer, the embedding and the head")
        }
        guard options.blockSize > 0, options.maxBatchedTokens > 0, options.maxSequences > 0, options.kvCacheMiB > 0 else {
            throw EngineError.invalidRequest(parameter: "options", message: "engine options must all be positive")
        }
        config = stage.config
        self.options = options
        self.eosTokenIDs = eosTokenIDs
        self.makeDetokenizer = makeDetokenizer
        let perBlock = PagedKVCache.bytes(layers: config.layerCount, blockCount: 1, blockSize: options.blockSize, kvDim: config.kvDim)
        blockCount = max(1, options.kvCacheMiB * 1_048_576 / perBlock)
        let cache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: options.blockSize, blockCount: blockCount,
                                 kvDim: config.kvDim)
        let loop = EngineLoopSeed(runner: ModelRunner(stage: stage, cache: cache), options: options, blockCount: blockCount,
                                  eosTokenIDs: eosTokenIDs, makeDetokenizer: makeDetokenizer, inbox: inbox)
        let thread = Thread { EngineLoop(seed: loop).run() }
        thread.name = "brigade-engine"
        thread.start()
    }

    deinit {
        inbox.post { $0.shutdown = .abort }
    }

    /// Submits a request; its updates arrive on the returned stream, the last one with a finish reason.
    public func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<RequestOutput, any Error> {
        try validate(request)
        let (stream, continuation) = AsyncThrowingStream<RequestOutput, any Error>.makeStream()
        let id = request.id
        let accepted = inbox.post { state -> Bool in
            guard state.shutdown == nil, state.failure == nil else { return false }
            guard state.live.insert(id).inserted else { return false }
            state.submitted.append((request, continuation))
            return true
        }
        guard accepted else {
            let state = inbox.read { ($0.shutdown != nil, $0.failure) }
            if let failure = state.1 { throw EngineError.failed(failure) }
            throw state.0 ? EngineError.shutDown : EngineError.duplicateRequestID(id)
        }
        continuation.onTermination = { [inbox] reason in
            if case .cancelled = reason { inbox.post { $0.cancelled.append(id) } }
        }
        return stream
    }

    /// Cancels a request: it finishes with `FinishReason.abort` and frees its cache blocks.
    public func cancel(_ id: String) {
        inbox.post { $0.cancelled.append(id) }
    }

    /// Stops the engine. With `drain`, running and waiting requests finish first; otherwise they end with `abort`.
    /// Returns when the engine thread has exited.
    public func shutdown(drain: Bool = true) {
        inbox.post { if $0.shutdown != .abort { $0.shutdown = drain ? .drain : .abort } }
        inbox.waitUntil { $0.exited }
    }

    /// Counters for monitoring.
    public var statistics: EngineStatistics { inbox.read { $0.statistics } }

    /// Checks a request as `submit` does, without submitting it.
    public func validate(_ request: GenerationRequest) throws(EngineError) {
        func invalid(_ parameter: String, _ message: String) -> EngineError { .invalidRequest(parameter: parameter, message: message) }
        do { try request.sampling.validate() } catch { throw invalid(error.parameter, error.message) }
        guard !request.promptTokenIDs.isEmpty else { throw invalid("prompt", "the prompt is empty") }
        if let bad = request.promptTokenIDs.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw invalid("prompt", "token id \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
        }
        guard request.maxTokens >= 1 else { throw invalid("max_tokens", "max_tokens must be at least 1, got \(request.maxTokens)") }
        guard request.minTokens >= 0, request.minTokens <= request.maxTokens else {
            throw invalid("min_tokens", "min_tokens must be between 0 and max_tokens (\(request.maxTokens)), got \(request.minTokens)")
        }
        guard request.promptTokenIDs.count < config.contextLength else {
            throw invalid("prompt", "the prompt has \(request.promptTokenIDs.count) tokens; the model's context is \(config.contextLength), "
                          + "so at most \(config.contextLength - 1) prompt tokens leave room for one generated token")
        }
        let longest = min(config.contextLength, request.promptTokenIDs.count + request.maxTokens)
        let needed = (longest + options.blockSize - 1) / options.blockSize
        guard needed <= blockCount else {
            throw invalid("max_tokens", "prompt + max_tokens needs \(needed) KV blocks of \(options.blockSize) tokens but the cache has "
                          + "\(blockCount); lower max_tokens or raise --kv-cache-mb")
        }
    }
}

/// Engine counters, updated once per step.
public struct EngineStatistics: Sendable, Equatable {
    public var steps = 0
    public var promptTokens = 0
    public var generatedTokens = 0
    public var preemptions = 0
    public var running = 0
    public var waiting = 0
    public var usedBlocks = 0
    public var forwardSeconds = 0.0
}

import Grammar

/// What a running pipeline can serve: the checks `submit` makes before a request enters the engine, as a value that
/// can travel (a supervisor outside the pipeline checks requests with its pipeline's limits).
public struct RequestLimits: Sendable, Equatable {
    public var vocabSize: Int
    /// The longest sequence (prompt + output) served.
    public var contextLength: Int
    public var blockSize: Int
    /// KV blocks of the full pool.
    public var blockCount: Int
    /// Positions a sliding-window layer sees (nil: the model has no such layers).
    public var window: Int?
    /// KV blocks of the sliding-window layers' pool (0 without one).
    public var windowBlockCount: Int
    public var maxBatchedTokens: Int
    /// Whether the model's tokens have known bytes, so that grammars can constrain them.
    public var supportsGrammars: Bool

    public init(vocabSize: Int, contextLength: Int, blockSize: Int, blockCount: Int, window: Int?, windowBlockCount: Int,
                maxBatchedTokens: Int, supportsGrammars: Bool = false) {
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.window = window
        self.windowBlockCount = windowBlockCount
        self.maxBatchedTokens = maxBatchedTokens
        self.supportsGrammars = supportsGrammars
    }

    /// Tokens the full KV pool holds.
    public var capacityTokens: Int { blockCount * blockSize }

    /// Checks a tokenized request; the error names the parameter and what to change.
    public func validate(_ request: GenerationRequest) throws(EngineError) {
        func invalid(_ parameter: String, _ message: String) -> EngineError { .invalidRequest(parameter: parameter, message: message) }
        if request.promptText != nil {
            throw invalid("prompt", "validate(tokenized(request)) for text prompts")
        }
        do { try request.sampling.validate() } catch { throw invalid(error.parameter, error.message) }
        guard !request.promptTokenIDs.isEmpty else { throw invalid("prompt", "the prompt is empty") }
        if let bad = (request.promptTokenIDs + request.resumedTokenIDs).first(where: { $0 < 0 || Int($0) >= vocabSize }) {
            throw invalid("prompt", "token id \(bad) is outside the vocabulary (0..<\(vocabSize))")
        }
        guard request.maxTokens >= 1 else { throw invalid("max_tokens", "max_tokens must be at least 1, got \(request.maxTokens)") }
        guard request.minTokens >= 0, request.minTokens <= request.maxTokens else {
            throw invalid("min_tokens", "min_tokens must be between 0 and max_tokens (\(request.maxTokens)), got \(request.minTokens)")
        }
        guard request.resumedTokenIDs.count < request.maxTokens else {
            throw invalid("max_tokens", "the request resumes after \(request.resumedTokenIDs.count) tokens but max_tokens is \(request.maxTokens)")
        }
        if let grammar = request.grammar {
            guard supportsGrammars else {
                throw invalid("grammar", "this model has no tokenizer vocabulary, so its output cannot follow a grammar or schema")
            }
            do { _ = try GrammarCache.shared.grammar(grammar) } catch {
                throw invalid("grammar", "invalid grammar: \(error)")
            }
        }
        let context = contextLength
        guard request.promptTokenIDs.count < context else {
            throw invalid("prompt", "the prompt has \(request.promptTokenIDs.count) tokens; the model's context is \(context), "
                          + "so at most \(context - 1) prompt tokens leave room for one generated token")
        }
        guard request.promptTokenIDs.count + request.resumedTokenIDs.count < context else {
            throw invalid("prompt", "the prompt and the \(request.resumedTokenIDs.count) resumed tokens fill the context of \(context)")
        }
        let longest = min(context, request.promptTokenIDs.count + request.maxTokens)
        let needed = (longest + blockSize - 1) / blockSize
        guard needed <= blockCount else {
            throw invalid("max_tokens", "prompt + max_tokens needs \(needed) KV blocks of \(blockSize) tokens but the cache has "
                          + "\(blockCount); lower max_tokens or raise --kv-cache-mb")
        }
        if let window {
            let windowed = WindowedBlocks.blocksPerSequence(window: window, blockSize: blockSize,
                                                            chunk: min(maxBatchedTokens, longest), longest: longest)
            guard windowed <= windowBlockCount else {
                throw invalid("max_tokens", "a chunk of this request needs \(windowed) sliding-window KV blocks but that pool has "
                              + "\(windowBlockCount); raise --kv-cache-mb or lower --max-num-batched-tokens")
            }
        }
    }
}

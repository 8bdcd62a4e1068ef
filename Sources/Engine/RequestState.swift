import Model

/// A request's state inside the engine: its tokens, KV blocks, sampling state and output bookkeeping.
///
/// Owned by the engine loop thread; never shared.
final class RequestState {
    enum Status { case waiting, running, finished }

    let request: GenerationRequest
    /// Admission order; also decides who is preempted first (the youngest).
    let arrival: Int
    var status: Status = .waiting
    /// Prompt followed by generated tokens.
    var tokens: [Int32]
    var outputCount = 0
    /// Tokens whose keys/values are in the cache.
    var computed = 0
    var blockTable: [Int32] = []
    /// Identities of the full blocks of `tokens` hashed so far (memoised: tokens only grow).
    var blockHashes: [BlockHash] = []
    /// Leading blocks of `blockTable` that are in the prefix cache (or tried to be: see `BlockManager.register`).
    var registeredBlocks = 0
    /// Blocks of the sequence (from 0) below which every block `windowBlocks` holds or held is in the sliding-window
    /// pool's prefix cache.
    var registeredWindowBlocks = 0
    /// Tokens the last admission took from the prefix cache instead of computing them.
    var cachedTokens = 0
    /// Blocks of the sliding-window layers' pool (`WindowedBlocks`), for models that have one.
    var windowBlocks = WindowedBlockTable()
    /// A chunk that samples this request's next token is executing; it is not scheduled again until that token is
    /// handled (so a decode request is in at most one in-flight micro-batch).
    var inFlight = false
    /// Iteration of the last micro-batch that included this request (-1: never); for round-robin scheduling.
    var lastScheduled = -1
    /// Where the output stands in the request's grammar (last rank only, made at the first constrained sample).
    var grammar: GrammarCursor?
    /// Log-probs / logits the last rank produced for this request and has not sent yet.
    var unsentDiff = ResponseDiff()
    /// The request's random stream; token `n` is drawn from `SeededGenerator(seed:position: n)`.
    let seed: UInt64
    var seen: Set<Int32>
    var generatedCounts: [Int32: Int] = [:]
    let stopTokens: Set<Int32>
    var text: TextAssembler
    var finishReason: FinishReason?

    /// Whether appended tokens are detokenized (for streaming, and for stop strings).
    let assemblesText: Bool

    init(request: GenerationRequest, arrival: Int, eosTokenIDs: [Int32], detokenizer: any IncrementalDetokenizer,
         assemblesText: Bool = true) {
        self.request = request
        self.assemblesText = assemblesText
        self.arrival = arrival
        tokens = request.promptTokenIDs
        seed = request.sampling.seed ?? UInt64.random(in: 0...UInt64.max)
        seen = request.sampling.repetitionPenalty != 1 ? Set(request.promptTokenIDs) : []
        stopTokens = Set(request.stopTokenIDs + (request.ignoreEOS ? [] : eosTokenIDs))
        text = TextAssembler(stopStrings: request.stopStrings, detokenizer: detokenizer)
        replay(request.resumedTokenIDs)
    }

    /// Takes `resumed` (tokens a previous pipeline already streamed) as generated: they count as output for penalties,
    /// limits and stop strings, their text is not streamed again, and they are computed with the prompt.
    private func replay(_ resumed: [Int32]) {
        for token in resumed {
            tokens.append(token)
            outputCount += 1
            if request.sampling.repetitionPenalty != 1 { seen.insert(token) }
            if request.sampling.presencePenalty != 0 || request.sampling.frequencyPenalty != 0 { generatedCounts[token, default: 0] += 1 }
            if assemblesText { _ = text.append(token: token, isStopToken: false) }
        }
    }

    /// The random numbers for the next token (see `seed`).
    var nextTokenGenerator: SeededGenerator { SeededGenerator(seed: seed, position: outputCount) }

    /// The prompt's tokens (resumed output not included).
    var promptCount: Int { request.promptTokenIDs.count }
    /// Tokens still to run through the model before the next token can be sampled.
    var uncomputed: Int { tokens.count - computed }
    var usage: Usage {
        Usage(promptTokens: promptCount, completionTokens: outputCount, cachedPromptTokens: min(cachedTokens, promptCount))
    }

    /// The identities of the first `count` full blocks of `tokens` (`count` ≤ tokens.count / blockSize).
    func blockHashes(_ count: Int, blockSize: Int) -> ArraySlice<BlockHash> {
        while blockHashes.count < count {
            let i = blockHashes.count
            blockHashes.append(BlockHash(parent: .parent(ofBlock: i, in: blockHashes[...]), tokens: tokens[i * blockSize..<(i + 1) * blockSize]))
        }
        return blockHashes[..<count]
    }

    /// Appends a sampled token and decides whether the request is finished.
    /// Returns the text to stream for it.
    func append(_ sampled: SampledToken, contextLength: Int) -> String {
        let token = sampled.tokenID
        tokens.append(token)
        outputCount += 1
        if request.sampling.repetitionPenalty != 1 { seen.insert(token) }
        if request.sampling.presencePenalty != 0 || request.sampling.frequencyPenalty != 0 { generatedCounts[token, default: 0] += 1 }
        let isStopToken = stopTokens.contains(token) && outputCount > request.minTokens
        let (delta, hitStopString) = assemblesText ? text.append(token: token, isStopToken: isStopToken) : ("", false)
        if isStopToken || hitStopString {
            finishReason = .stop
        } else if outputCount >= request.maxTokens || tokens.count >= contextLength {
            finishReason = .length
        }
        if finishReason != nil && assemblesText { return delta + text.finish() }
        return delta
    }

    /// Tokens that must not be sampled yet (stop tokens before `minTokens`).
    var suppressedTokens: Set<Int32> { outputCount < request.minTokens ? stopTokens : [] }
}

/// Turns generated tokens into streamable text: complete characters only, stop strings cut, and any tail that could
/// still grow into a stop string held back until it cannot.
struct TextAssembler {
    let stopStrings: [String]
    var detokenizer: any IncrementalDetokenizer
    /// Text decoded but not yet streamed (possible start of a stop string).
    var pending = ""
    var stopped = false

    init(stopStrings: [String], detokenizer: any IncrementalDetokenizer) {
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
        self.detokenizer = detokenizer
    }

    /// Feeds one token; returns the text that can be streamed now and whether a stop string was hit.
    mutating func append(token: Int32, isStopToken: Bool) -> (String, Bool) {
        guard !stopped else { return ("", false) }
        if !isStopToken { pending += detokenizer.append(token) }
        return release()
    }

    /// Flushes everything held back at the end of the request.
    mutating func finish() -> String {
        guard !stopped else { return "" }
        stopped = true
        pending += detokenizer.flush()
        let (text, _) = release()
        let rest = pending
        pending = ""
        return text + rest
    }

    private mutating func release() -> (String, Bool) {
        if let cut = firstStop(in: pending) {
            let text = String(pending[..<cut])
            pending = ""
            stopped = true
            return (text, true)
        }
        let keep = heldBack(pending)
        let split = pending.index(pending.endIndex, offsetBy: -keep)
        let text = String(pending[..<split])
        pending = String(pending[split...])
        return (text, false)
    }

    private func firstStop(in text: String) -> String.Index? {
        stopStrings.compactMap { text.range(of: $0)?.lowerBound }.min()
    }

    /// Length (in characters) of the longest suffix of `text` that is a proper prefix of a stop string.
    private func heldBack(_ text: String) -> Int {
        var best = 0
        for stop in stopStrings {
            let limit = min(stop.count - 1, text.count)
            if limit <= best { continue }
            for length in stride(from: limit, to: best, by: -1) where text.hasSuffix(stop.prefix(length)) {
                best = length
                break
            }
        }
        return best
    }
}

/// Streaming detokenization of one sequence: bytes of multi-byte characters are held until complete.
public protocol IncrementalDetokenizer: Sendable {
    /// Adds a token; returns the newly completed text.
    mutating func append(_ token: Int32) -> String
    /// Returns whatever remains (incomplete bytes become U+FFFD).
    mutating func flush() -> String
}

import Tokenization

/// Adapts the tokenizer's `StreamingDecoder` to the engine. A sampled id the tokenizer does not know (a model whose
/// embedding table is padded beyond the vocabulary) contributes no text.
public struct TokenizerDetokenizer: IncrementalDetokenizer {
    var decoder: StreamingDecoder
    public init(_ decoder: StreamingDecoder) { self.decoder = decoder }
    public mutating func append(_ token: Int32) -> String { (try? decoder.append(token)) ?? "" }
    public mutating func flush() -> String { decoder.finish() }
}

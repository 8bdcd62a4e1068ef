import Foundation
import Kernels

/// One sequence's part of a batch: `tokenCount` new tokens at positions `startPosition ..< startPosition + tokenCount`.
///
/// A prefill chunk has many tokens, a decode step one; a batch may mix both and sequences of any lengths.
public struct SequenceChunk: Sendable, Equatable {
    /// Number of this sequence's tokens already in the KV cache.
    public var startPosition: Int
    public var tokenCount: Int
    /// KV block ids covering positions `0 ..< startPosition + tokenCount`.
    public var blockTable: [Int32]
    /// Whether the last stage computes logits for this chunk's last token.
    public var wantsLogits: Bool
    /// Block ids of the stage's windowed cache (sliding-window layers) covering positions
    /// `windowStart ..< startPosition + tokenCount`: at least every position the chunk's tokens see, from
    /// `max(0, startPosition − window + 1)`. Empty when the stage has no windowed cache.
    public var windowBlockTable: [Int32]
    /// The position `windowBlockTable[0]` starts at: a multiple of the windowed cache's block size.
    public var windowStart: Int

    public init(startPosition: Int, tokenCount: Int, blockTable: [Int32], wantsLogits: Bool,
                windowBlockTable: [Int32] = [], windowStart: Int = 0) {
        self.startPosition = startPosition
        self.tokenCount = tokenCount
        self.blockTable = blockTable
        self.wantsLogits = wantsLogits
        self.windowBlockTable = windowBlockTable
        self.windowStart = windowStart
    }
}

/// What a stage's forward pass produces.
public enum StageOutput: Sendable {
    /// Hidden states `[tokens × hiddenSize]` to hand to the next stage.
    case hidden([Float])
    /// Logits `[chunks that want logits × vocabSize]`, in batch order.
    case logits([Float])
}

/// A contiguous range of a decoder's layers, optionally with the token embedding (first stage) and the final norm +
/// output projection (last stage). A whole model is the stage with every layer and both ends. Each layer runs its
/// architecture's block (`Architectures/`) over the shared layers and kernels.
///
/// `forward` runs one batch of sequences of different lengths through the stage; every row's arithmetic is
/// independent of its batch-mates (batch invariance), so a sequence's outputs are bit-identical however it is batched.
public struct DecoderStage: Sendable {
    public let config: ModelConfig
    public let layerRange: Range<Int>
    public let hasEmbedding: Bool
    public let hasHead: Bool

    let layers: [any DecoderLayer]
    /// Keeps the file mappings that every weight matrix points into alive as long as the stage.
    let weights: TensorStore
    let embedding: Projection?
    /// What the looked-up embeddings are multiplied by (Gemma: √hidden), if anything.
    let embeddingScale: Float?
    let outputNorm: RMSNorm?
    let output: Projection?
    /// The distinct RoPEs of the stage's layers (Gemma 3 has a local and a global one); each layer indexes into it.
    let ropes: [RoPE]

    /// Builds the stage from `store`, checking every tensor it needs exists with the right shape.
    public init(config: ModelConfig, store: TensorStore, layers layerRange: Range<Int>, embedding: Bool, head: Bool) throws(ModelFileError) {
        guard layerRange.lowerBound >= 0, layerRange.upperBound <= config.layerCount else {
            throw ModelFileError(file: store.source, location: "stage layers \(layerRange)",
                                 problem: "outside the model's \(config.layerCount) layers")
        }
        self.config = config
        self.layerRange = layerRange
        weights = store
        hasEmbedding = embedding
        hasHead = head
        let d = config.hiddenSize
        var ropes: [RoPE] = []
        var layers: [any DecoderLayer] = []
        for l in layerRange {
            layers.append(try config.architecture.layerType.init(store, layer: l, config: config, ropes: &ropes))
        }
        self.layers = layers
        self.ropes = ropes
        // Only the stages that use it look the embedding up: a middle stage's host may not hold it (split files).
        let tokenEmbedding = embedding || (head && config.tiedEmbeddings)
            ? try store.projection("token_embd.weight", rows: config.vocabSize, columns: d) : nil
        self.embedding = embedding ? tokenEmbedding : nil
        embeddingScale = config.architecture.embeddingScale(config)
        if head {
            outputNorm = try RMSNorm(store, "output_norm.weight", count: d, eps: config.rmsNormEps)
            if config.tiedEmbeddings, let tokenEmbedding {
                output = tokenEmbedding
            } else {
                output = try store.projection("output.weight", rows: config.vocabSize, columns: d)
            }
        } else {
            outputNorm = nil
            output = nil
        }
    }

    /// Runs `batch` through the stage.
    /// - Parameters:
    ///   - tokens: the batch's token ids in order (`Σ tokenCount`), required on the first stage.
    ///   - hidden: the previous stage's hidden states `[Σ tokenCount × hiddenSize]`, required on other stages.
    ///   - cache: this stage's KV cache for every layer `windowCache` does not hold; the chunks' `blockTable`s
    ///     point into it.
    ///   - windowCache: the KV cache of (some of) the stage's sliding-window layers, if it has one; the chunks'
    ///     `windowBlockTable`s point into it. Those layers read and write only the positions their window sees, so
    ///     the results are bit-identical to keeping them in `cache`.
    public func forward(batch: [SequenceChunk], tokens: [Int32]? = nil, hidden: [Float]? = nil, cache: PagedKVCache,
                        windowCache: PagedKVCache? = nil) throws(StageError) -> StageOutput {
        let d = config.hiddenSize
        let tokenCount = batch.reduce(0) { $0 + $1.tokenCount }
        try validate(batch: batch, tokenCount: tokenCount, cache: cache, windowCache: windowCache)
        var x: [Float]
        if let embedding {
            guard let tokens, tokens.count == tokenCount else { throw StageError.badInput("first stage needs \(tokenCount) token ids, got \(tokens?.count ?? 0)") }
            x = [Float](repeating: 0, count: tokenCount * d)
            try x.withUnsafeMutableBufferPointer { (out: inout UnsafeMutableBufferPointer<Float>) throws(StageError) in
                for (i, token) in tokens.enumerated() {
                    guard token >= 0, Int(token) < config.vocabSize else {
                        throw StageError.badInput("token id \(token) is outside the vocabulary (0..<\(config.vocabSize))")
                    }
                    embedding.dequantizeRow(Int(token), into: out.baseAddress! + i * d)
                    if let scale = embeddingScale {
                        for j in 0..<d { out[i * d + j] *= scale }
                    }
                }
            }
        } else {
            guard let hidden, hidden.count == tokenCount * d else {
                throw StageError.badInput("stage needs \(tokenCount)×\(d) hidden values, got \(hidden?.count ?? 0)")
            }
            x = hidden
        }
        if tokenCount == 0 { return hasHead ? .logits([]) : .hidden([]) }

        let plan = BatchPlan(batch: batch, headDim: config.headDim, ropes: ropes, windowBlockSize: windowCache?.blockSize)
        for (index, layer) in layers.enumerated() {
            let l = layerRange.lowerBound + index
            let context = if let windowCache, windowCache.holds(layer: l) {
                LayerContext(config: config, plan: plan, cache: windowCache, tables: plan.windowTables, layer: l)
            } else {
                LayerContext(config: config, plan: plan, cache: cache, tables: plan.tables, layer: l)
            }
            layer.run(&x, context)
        }
        guard hasHead, let outputNorm, let output else { return .hidden(x) }
        return .logits(head(x: x, batch: batch, norm: outputNorm, output: output))
    }

    func validate(batch: [SequenceChunk], tokenCount: Int, cache: PagedKVCache, windowCache: PagedKVCache?) throws(StageError) {
        for candidate in [cache] + (windowCache.map { [$0] } ?? []) {
            guard candidate.layerRange == layerRange, candidate.kvDim == config.kvDim else {
                throw StageError.badInput("KV cache is for layers \(candidate.layerRange) with kvDim \(candidate.kvDim), stage has \(layerRange) and \(config.kvDim)")
            }
        }
        for l in layerRange {
            let windowed = windowCache?.holds(layer: l) == true
            guard windowed || cache.holds(layer: l) else { throw StageError.badInput("no KV cache holds layer \(l)") }
            guard !windowed || config.attention(layer: l).window != nil else {
                throw StageError.badInput("layer \(l) has no sliding window but its KV is in the windowed cache")
            }
        }
        for (i, chunk) in batch.enumerated() {
            let end = chunk.startPosition + chunk.tokenCount
            guard chunk.startPosition >= 0, chunk.tokenCount >= 0, end <= config.contextLength else {
                throw StageError.badInput("sequence \(i): positions \(chunk.startPosition)..<\(end) exceed the context length \(config.contextLength)")
            }
            guard chunk.blockTable.count * cache.blockSize >= end,
                  chunk.blockTable.allSatisfy({ $0 >= 0 && Int($0) < cache.blockCount }) else {
                throw StageError.badInput("sequence \(i): block table \(chunk.blockTable) does not cover \(end) positions in a cache of \(cache.blockCount) blocks")
            }
            if let windowCache, let window = config.slidingWindow?.window {
                let size = windowCache.blockSize, first = chunk.windowStart / size
                guard chunk.windowStart % size == 0, chunk.windowStart <= max(0, chunk.startPosition - window + 1),
                      (first + chunk.windowBlockTable.count) * size >= end,
                      chunk.windowBlockTable.allSatisfy({ $0 >= 0 && Int($0) < windowCache.blockCount }) else {
                    throw StageError.badInput("sequence \(i): windowed block table \(chunk.windowBlockTable) from position "
                                              + "\(chunk.windowStart) does not cover the window of positions "
                                              + "\(chunk.startPosition)..<\(end) in a cache of \(windowCache.blockCount) blocks")
                }
            }
        }
    }

    /// Final norm and output projection for the last token of each chunk that wants logits.
    func head(x: [Float], batch: [SequenceChunk], norm: RMSNorm, output: Projection) -> [Float] {
        let d = config.hiddenSize
        var rows: [Int] = []
        var end = 0
        for chunk in batch {
            end += chunk.tokenCount
            if chunk.wantsLogits && chunk.tokenCount > 0 { rows.append(end - 1) }
        }
        guard !rows.isEmpty else { return [] }
        var last = [Float](repeating: 0, count: rows.count * d)
        for (i, row) in rows.enumerated() { last[i * d..<(i + 1) * d] = x[row * d..<(row + 1) * d] }
        var logits = output(norm(last), tokens: rows.count)
        if let cap = config.logitSoftcap {
            for i in logits.indices { logits[i] = cap * Foundation.tanh(logits[i] / cap) }
        }
        return logits
    }
}

/// Why a stage could not run a batch.
public enum StageError: Error, CustomStringConvertible, Equatable {
    case badInput(String)

    public var description: String {
        switch self {
        case .badInput(let message): return "stage input rejected: \(message)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

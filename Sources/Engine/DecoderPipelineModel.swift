import Grammar
import Model

/// A Llama-family model file (GGUF or Hugging Face) as a pipeline model: each rank maps the file and builds only its
/// own layers' weights and KV cache.
public struct DecoderPipelineModel: PipelineModel {
    public let weights: ModelWeights
    public let name: String
    public let eosTokenIDs: [Int32]
    private let detokenizer: @Sendable () -> any IncrementalDetokenizer
    private let encoder: (@Sendable (String) -> [Int32])?
    private let vocabulary: (@Sendable () -> TokenVocabulary)?

    /// - Parameters:
    ///   - makeDetokenizer: makes a fresh streaming detokenizer for each request.
    ///   - encode: the tokenizer, for requests submitted as text (nil: token ids only).
    ///   - makeVocabulary: the bytes of every token, for grammar-constrained output (nil: no grammars).
    public init(weights: ModelWeights, name: String = "model", eosTokenIDs: [Int32],
                encode: (@Sendable (String) -> [Int32])? = nil,
                makeVocabulary: (@Sendable () -> TokenVocabulary)? = nil,
                makeDetokenizer: @escaping @Sendable () -> any IncrementalDetokenizer) {
        self.weights = weights
        self.name = name
        self.eosTokenIDs = eosTokenIDs
        encoder = encode
        vocabulary = makeVocabulary
        detokenizer = makeDetokenizer
    }

    /// A text model (weights, tokenizer, end-of-sequence tokens) with its tokenizer's streaming detokenizer.
    public init(_ text: TextModel, name: String) {
        let vocabSize = text.weights.config.vocabSize
        self.init(weights: text.weights, name: name, eosTokenIDs: text.eosTokenIDs, encode: { text.encode($0) },
                  makeVocabulary: { TokenVocabulary(tokenizer: text.tokenizer, size: vocabSize) }) {
            TokenizerDetokenizer(text.makeDetokenizer())
        }
    }

    public var config: ModelConfig { weights.config }
    public var layerCount: Int { config.layerCount }
    public var vocabSize: Int { config.vocabSize }
    public var hiddenSize: Int { config.hiddenSize }
    public var contextLength: Int { config.contextLength }
    public var kvBytesPerTokenPerLayer: Int { 2 * config.kvDim * MemoryLayout<Float>.size }

    /// Multiply-adds per token: a layer's projections, and on the last stage the output head (every decode token
    /// samples, so in steady state the head runs once per token too). The embedding is a row copy.
    public var costs: StageCosts {
        let d = Double(config.hiddenSize), f = Double(config.intermediateSize)
        let q = Double(config.qDim), kv = Double(config.kvDim)
        return StageCosts(layer: d * (2 * q + 2 * kv) + 3 * d * f, embedding: d, head: d * Double(config.vocabSize))
    }

    public var slidingWindow: SlidingWindow? { config.slidingWindow }

    public func makeStage(rank: Int, stageCount: Int, layers: Range<Int>, blockSize: Int, blockCount: Int) throws -> any StageModel {
        try makeStage(rank: rank, stageCount: stageCount, layers: layers, blockSize: blockSize, blockCount: blockCount,
                      windowBlockCount: 0)
    }

    /// The stage's global layers' KV in a cache of `blockCount` blocks; with `windowBlockCount > 0`, its
    /// sliding-window layers' KV in a windowed cache of that many blocks.
    public func makeStage(rank: Int, stageCount: Int, layers: Range<Int>, blockSize: Int, blockCount: Int,
                          windowBlockCount: Int) throws -> any StageModel {
        let stage = try weights.stage(layers: layers)
        let local = windowBlockCount > 0 ? layers.filter { config.attention(layer: $0).window != nil } : []
        let cache = PagedKVCache(layerRange: layers, layers: layers.filter { !local.contains($0) }, blockSize: blockSize,
                                 blockCount: blockCount, kvDim: config.kvDim)
        let windowCache = local.isEmpty ? nil : PagedKVCache(layerRange: layers, layers: local, blockSize: blockSize,
                                                             blockCount: windowBlockCount, kvDim: config.kvDim)
        return DecoderStageModel(stage: stage, cache: cache, windowCache: windowCache)
    }

    public func makeDetokenizer() -> any IncrementalDetokenizer { detokenizer() }

    public var hasTokenVocabulary: Bool { vocabulary != nil }
    public func makeTokenVocabulary() -> TokenVocabulary? { vocabulary?() }

    public func encode(_ text: String) throws -> [Int32] {
        guard let encoder else {
            throw EngineError.invalidRequest(parameter: "prompt", message: "the model \(name) was loaded without a tokenizer; submit token ids")
        }
        return encoder(text)
    }
}

/// A `DecoderStage` with its rank's KV caches.
struct DecoderStageModel: StageModel {
    let stage: DecoderStage
    let cache: PagedKVCache
    /// The sliding-window layers' cache, when they have one of their own.
    let windowCache: PagedKVCache?

    func forward(batch: [SequenceChunk], tokens: [Int32], hidden: [Float]) throws -> StageOutput {
        try stage.forward(batch: batch, tokens: stage.hasEmbedding ? tokens : nil, hidden: stage.hasEmbedding ? nil : hidden,
                          cache: cache, windowCache: windowCache)
    }
}

import Grammar
import Model

/// One rank's compute: a contiguous range of a model's layers, with the token embedding on the first stage and the
/// final norm + output head on the last. The executor calls `forward` from its rank's loop thread only, one
/// micro-batch at a time, in the same batch order on every rank.
public protocol StageModel: Sendable {
    /// Runs one micro-batch.
    /// - Parameters:
    ///   - batch: the sequences' chunks, in schedule order; block tables index this rank's KV cache.
    ///   - tokens: the batch's token ids (`Σ tokenCount`); used by the first stage.
    ///   - hidden: the previous stage's output `[Σ tokenCount × hiddenSize]`; used by every stage but the first.
    /// - Returns: hidden states for the next stage, or on the last stage one logits row per chunk that wants logits.
    func forward(batch: [SequenceChunk], tokens: [Int32], hidden: [Float]) throws -> StageOutput
}

/// Relative compute cost of a model's parts, in any unit, for splitting layers into balanced stages.
public struct StageCosts: Sendable, Equatable {
    /// Cost of one transformer layer.
    public var layer: Double
    /// Extra cost of the first stage (token embedding).
    public var embedding: Double
    /// Extra cost of the last stage (final norm, output head and sampling).
    public var head: Double

    public init(layer: Double, embedding: Double, head: Double) {
        self.layer = layer
        self.embedding = embedding
        self.head = head
    }

    /// Per-layer costs of a model of `layerCount` layers: the embedding counted on the first, the head on the last.
    public func perLayer(_ layerCount: Int) -> [Double] {
        var costs = [Double](repeating: layer, count: layerCount)
        if layerCount > 0 {
            costs[0] += embedding
            costs[layerCount - 1] += head
        }
        return costs
    }
}

/// A model the pipeline executor can split into stages: what every rank must agree on, and a factory for one rank's
/// stage (each rank loads only its own layers).
public protocol PipelineModel: Sendable {
    /// A short human-readable name (file name, or the synthetic spec).
    var name: String { get }
    var layerCount: Int { get }
    var vocabSize: Int { get }
    /// Width of the activations between stages.
    var hiddenSize: Int { get }
    /// Longest sequence (prompt + output) the model accepts.
    var contextLength: Int { get }
    /// Tokens that end generation unless a request sets `ignoreEOS`.
    var eosTokenIDs: [Int32] { get }
    /// KV cache bytes one token occupies in one layer (keys and values).
    var kvBytesPerTokenPerLayer: Int { get }
    /// Cost model for the default (balanced) stage split.
    var costs: StageCosts { get }

    /// The layers that attend only to a sliding window of recent positions (Gemma 3's local layers), if any; the
    /// executor then keeps their KV in a second, windowed block pool (`KVCacheLayout`). Default: none.
    var slidingWindow: SlidingWindow? { get }

    /// Builds the stage of `rank` (of `stageCount`) holding `layers`, with a KV cache of `blockCount` blocks of
    /// `blockSize` tokens for those layers.
    func makeStage(rank: Int, stageCount: Int, layers: Range<Int>, blockSize: Int, blockCount: Int) throws -> any StageModel

    /// Builds the stage as above, with the KV of its sliding-window layers in a windowed cache of `windowBlockCount`
    /// blocks (0: every layer in the one cache). The chunks the stage runs then carry windowed block tables into it.
    /// Default: models without `slidingWindow` ignore it.
    func makeStage(rank: Int, stageCount: Int, layers: Range<Int>, blockSize: Int, blockCount: Int,
                   windowBlockCount: Int) throws -> any StageModel

    /// A fresh streaming detokenizer for one request.
    func makeDetokenizer() -> any IncrementalDetokenizer

    /// Token ids of `text` (special tokens recognised), for requests submitted as text.
    func encode(_ text: String) throws -> [Int32]

    /// Whether `makeTokenVocabulary()` returns a vocabulary (cheap; checked when requests are validated).
    var hasTokenVocabulary: Bool { get }
    /// The bytes of every token, for grammar-constrained sampling (built once, on the sampling rank). Default: none.
    func makeTokenVocabulary() -> TokenVocabulary?
}

extension PipelineModel {
    public var slidingWindow: SlidingWindow? { nil }
    public var hasTokenVocabulary: Bool { false }
    public func makeTokenVocabulary() -> TokenVocabulary? { nil }

    public func makeStage(rank: Int, stageCount: Int, layers: Range<Int>, blockSize: Int, blockCount: Int,
                          windowBlockCount: Int) throws -> any StageModel {
        try makeStage(rank: rank, stageCount: stageCount, layers: layers, blockSize: blockSize, blockCount: blockCount)
    }

    /// Models without a tokenizer accept token ids only.
    public func encode(_ text: String) throws -> [Int32] {
        throw EngineError.invalidRequest(parameter: "prompt", message: "the model \(name) has no tokenizer; submit token ids")
    }
}

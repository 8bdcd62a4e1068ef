import Grammar
import Model

/// A pipeline model without model compute, for testing and benchmarking the executor: each stage sleeps a configured
/// time per micro-batch and produces deterministic activations and logits.
///
/// Activations carry, per token row, the token id (`row[0]`), its position (`row[1]`) and a layer counter (`row[2]`)
/// that every stage advances by its layer count and checks on arrival, so a batch routed to the wrong stage or out of
/// order fails loudly. Logits depend only on the seed, the chunk's last token and its position, so they are
/// bit-identical however the layers are split.
public struct SyntheticModel: PipelineModel {
    /// The parameters this model was built from.
    public let spec: SyntheticSpec

    /// A model with the spec's shape and timings.
    public init(spec: SyntheticSpec) {
        self.spec = spec
    }

    /// The canonical spec string.
    public var name: String { spec.description }
    public var layerCount: Int { spec.layerCount }
    public var vocabSize: Int { spec.vocabSize }
    public var hiddenSize: Int { spec.hiddenSize }
    public var contextLength: Int { spec.contextLength }
    /// The last vocabulary id.
    public var eosTokenIDs: [Int32] { [Int32(spec.vocabSize - 1)] }
    /// Keys and values of `kvDim` floats each.
    public var kvBytesPerTokenPerLayer: Int { 2 * spec.kvDim * MemoryLayout<Float>.size }
    /// Every layer costs the same; stage times are given per stage, so the ends cost nothing extra.
    public var costs: StageCosts { StageCosts(layer: 1, embedding: 0, head: 0) }

    /// Builds the stage of `rank` (of `stageCount`) holding `layers`. There is no KV cache, so the block geometry is
    /// ignored.
    /// - Throws: `SyntheticSpecError` if the rank or layers do not fit the model, or `stage-ms` lists a time per stage
    ///   and their count is not `stageCount`.
    public func makeStage(rank: Int, stageCount: Int, layers: Range<Int>, blockSize: Int, blockCount: Int) throws -> any StageModel {
        try stage(rank: rank, stageCount: stageCount, layers: layers)
    }

    /// The concrete stage of `rank` (of `stageCount`) holding `layers`; see `makeStage`.
    public func stage(rank: Int, stageCount: Int, layers: Range<Int>) throws(SyntheticSpecError) -> SyntheticStage {
        guard stageCount >= 1, (0..<stageCount).contains(rank) else {
            throw SyntheticSpecError("rank \(rank) is not in 0..<\(stageCount) (the stage count)")
        }
        guard !layers.isEmpty, layers.lowerBound >= 0, layers.upperBound <= spec.layerCount else {
            throw SyntheticSpecError(
                "stage \(rank) layers \(layers.lowerBound)..<\(layers.upperBound) are empty or outside 0..<\(spec.layerCount)")
        }
        let times = spec.stageMilliseconds
        guard times.count == 1 || times.count == stageCount else {
            throw SyntheticSpecError(
                "stage-ms lists \(times.count) times but the pipeline has \(stageCount) stages (give one value, or one per stage)")
        }
        let perLayer = spec.layerMilliseconds
        let layerTime = layers.reduce(0.0) { $0 + (perLayer.count == 1 ? perLayer[0] : perLayer[$1]) }
        return SyntheticStage(spec: spec, rank: rank, stageCount: stageCount, layers: layers,
                              milliseconds: (times.count == 1 ? times[0] : times[rank]) + layerTime)
    }

    /// A detokenizer that renders token `t` as `"t<t> "`.
    public func makeDetokenizer() -> any IncrementalDetokenizer { SyntheticDetokenizer() }

    /// Token `t` is the text `"t<t> "` (as the detokenizer renders it); the end-of-sequence id has no text.
    public var hasTokenVocabulary: Bool { true }
    public func makeTokenVocabulary() -> TokenVocabulary? {
        TokenVocabulary(tokens: (0..<spec.vocabSize).map { $0 == spec.vocabSize - 1 ? nil : Array("t\($0) ".utf8) },
                        size: spec.vocabSize)
    }

    /// Token ids for a text prompt: its UTF-8 bytes, each modulo `vocabSize - 1` so never the end-of-sequence id.
    public func encode(_ text: String) -> [Int32] {
        let modulus = spec.vocabSize - 1
        return text.utf8.map { Int32(Int($0) % modulus) }
    }
}

/// Renders each token id as `"t<id> "`, with nothing held back.
struct SyntheticDetokenizer: IncrementalDetokenizer {
    mutating func append(_ token: Int32) -> String { "t\(token) " }
    mutating func flush() -> String { "" }
}

/// A synthetic stage's rejection of a micro-batch: wrong input sizes, or activations from the wrong upstream stage.
public struct SyntheticStageError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, naming the stage.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// The SplitMix64 finalizer: a cheap, well-mixed 64-bit hash.
@inline(__always)
func splitMix64(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

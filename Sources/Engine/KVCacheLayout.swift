import Model

/// How the KV cache budget (`EngineOptions.kvCacheMiB`) is split into block pools, identically on every rank.
///
/// A model without sliding-window layers has one pool: every layer stores every position of every sequence. A model
/// with them (Gemma 3: five local layers for every global one) has two: the global layers' pool, indexed by each
/// sequence's full block table, and the local layers' pool, where a sequence holds only the blocks its window still
/// sees (`WindowedBlocks`). The local pool gets
///
///     min(equal, max(perSequence, maxSequences × (⌈(window − 1) / blockSize⌉ + 2) + ⌈chunk / blockSize⌉))
///
/// blocks, with `chunk = min(maxBatchedTokens, context)`, `perSequence = ⌈(window − 1 + chunk) / blockSize⌉ + 1`
/// and `equal` the block count both pools would get if they were the same size; the global pool gets the rest.
/// The bound is what one full micro-batch needs: a chunk of `c` tokens holds at most
/// `⌈(window − 1) / blockSize⌉ + ⌈c / blockSize⌉ + 1` windowed blocks, and a micro-batch's chunks number at most
/// `maxSequences` with at most `chunk` tokens together (so `Σ ⌈c / blockSize⌉ < ⌈chunk / blockSize⌉ + maxSequences`). `perSequence` keeps every admissible
/// request runnable alone (sequences beyond the bound wait or are preempted, as when the full pool runs out), and
/// `equal` caps the pool where it could no longer help: a sequence never holds more windowed blocks than full ones.
public struct KVCacheLayout: Sendable, Equatable {
    public let blockSize: Int
    /// Blocks of the pool every layer without a sliding window uses (every layer of most models).
    public let blockCount: Int
    /// Blocks of the sliding-window layers' pool; 0 when the model has no such layers.
    public let windowBlockCount: Int
    /// Positions a sliding-window layer sees (nil: no such layers).
    public let window: Int?
    /// Layers in each pool.
    public let fullLayers: Int
    public let windowedLayers: Int
    /// KV bytes one token takes in one layer.
    public let bytesPerTokenPerLayer: Int
    /// The windowed pool's bound before it is capped by the budget (0 without one).
    let windowBlockBound: Int

    public init(model: any PipelineModel, options: EngineOptions) {
        blockSize = options.blockSize
        bytesPerTokenPerLayer = model.kvBytesPerTokenPerLayer
        let budget = options.kvCacheMiB * 1_048_576
        let layerBlock = max(1, bytesPerTokenPerLayer * blockSize)
        let local = model.slidingWindow.map { $0.localLayers.filter { $0 }.count } ?? 0
        guard let sliding = model.slidingWindow, local > 0 else {
            blockCount = max(1, budget / (layerBlock * model.layerCount))
            (windowBlockCount, window, fullLayers, windowedLayers, windowBlockBound) = (0, nil, model.layerCount, 0, 0)
            return
        }
        let context = options.contextLength(of: model), chunk = min(options.maxBatchedTokens, context)
        let perSequence = WindowedBlocks.blocksPerSequence(window: sliding.window, blockSize: blockSize, chunk: chunk,
                                                           longest: context)
        let bound = max(perSequence, options.maxSequences * ((sliding.window - 2 + blockSize) / blockSize + 2)
                        + (chunk + blockSize - 1) / blockSize)
        let equal = max(1, budget / (layerBlock * model.layerCount))
        let windowBlocks = min(equal, bound)
        let global = model.layerCount - local
        window = sliding.window
        windowBlockCount = windowBlocks
        windowBlockBound = bound
        fullLayers = global
        windowedLayers = local
        // Every layer local: the full pool stores nothing; it only tracks lengths, so give it room for any sequence.
        blockCount = global == 0 ? max(1, options.maxSequences) * ((context + blockSize - 1) / blockSize)
            : max(1, (budget - windowBlocks * layerBlock * local) / (layerBlock * global))
    }

    /// Tokens the full pool holds: the total length of the sequences the cache can hold at once.
    public var capacityTokens: Int { blockCount * blockSize }

    /// Bytes the two pools reserve (on all ranks together).
    public var bytes: Int { (blockCount * fullLayers + windowBlockCount * windowedLayers) * blockSize * bytesPerTokenPerLayer }

    /// Bytes of the sliding-window layers' pool.
    public var windowBytes: Int { windowBlockCount * windowedLayers * blockSize * bytesPerTokenPerLayer }

    /// KV bytes each token of a long sequence costs: the full pool's layers (the windowed layers' cost is bounded
    /// per sequence).
    public var bytesPerToken: Int { fullLayers * bytesPerTokenPerLayer }

    /// The budget (MiB) under which one sequence of `tokens` tokens fits.
    public func budgetMiB(holding tokens: Int) -> Int {
        let full = (tokens + blockSize - 1) / blockSize * blockSize * bytesPerToken
        let windowed = windowBlockBound * windowedLayers * blockSize * bytesPerTokenPerLayer
        return (full + windowed + 1_048_575) / 1_048_576
    }
}

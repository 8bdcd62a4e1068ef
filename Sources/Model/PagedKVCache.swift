#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Key/value cache storage for some or all of one pipeline stage's layers, split into fixed-size blocks of token slots.
///
/// A sequence owns a list of block ids (its block table); token position `p` lives in block `table[p / blockSize]`,
/// slot `p % blockSize`. Which block ids a sequence gets is decided by a block manager outside this type (deterministic
/// on every rank); the cache only stores vectors. A stage of a model with sliding-window layers (Gemma 3) has two
/// caches: one for its global layers, addressed by each sequence's full block table, and one for its local layers,
/// addressed by a windowed table that covers only the positions the window still sees.
///
/// `@unchecked Sendable`: the storage is written only by `DecoderStage.forward` for the slots of the sequences in the
/// batch being run, and one stage runs one batch at a time on its rank's loop thread; concurrent kernel threads inside
/// a forward only read slots that were written before they started.
public final class PagedKVCache: @unchecked Sendable {
    /// The stage's layers; layer indices passed to the cache are in this range.
    public let layerRange: Range<Int>
    /// The layers of `layerRange` whose keys and values this cache stores, ascending.
    public let layers: [Int]
    public let blockSize: Int
    public let blockCount: Int
    public let kvDim: Int
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    /// For each layer of `layerRange`: its index in the storage, or -1 when the cache does not hold it.
    private let storageIndex: [Int]

    /// Floats stored per layer.
    var layerStride: Int { blockCount * blockSize * kvDim }

    /// Bytes needed for `blockCount` blocks of `blockSize` tokens over `layers` layers.
    public static func bytes(layers: Int, blockCount: Int, blockSize: Int, kvDim: Int) -> Int {
        2 * layers * blockCount * blockSize * kvDim * MemoryLayout<Float>.size
    }

    /// Allocates the cache for `layers` (default: every layer of `layerRange`). `blockSize` and `blockCount` must be
    /// positive; `layers` must lie in `layerRange`.
    public init(layerRange: Range<Int>, layers: [Int]? = nil, blockSize: Int, blockCount: Int, kvDim: Int) {
        precondition(blockSize > 0 && blockCount > 0 && kvDim > 0)
        let layers = layers.map { Array(Set($0)).sorted() } ?? Array(layerRange)
        precondition(layers.allSatisfy(layerRange.contains), "cache layers \(layers) outside the stage's \(layerRange)")
        self.layerRange = layerRange
        self.layers = layers
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.kvDim = kvDim
        var storageIndex = [Int](repeating: -1, count: layerRange.count)
        for (index, layer) in layers.enumerated() { storageIndex[layer - layerRange.lowerBound] = index }
        self.storageIndex = storageIndex
        let count = max(1, layers.count * blockCount * blockSize * kvDim)
        // calloc: large zeroed blocks come straight from the kernel, so pages become resident only when a sequence
        // first writes them (a 512 MiB cache costs no memory until it is used).
        guard let keys = calloc(count, MemoryLayout<Float>.stride), let values = calloc(count, MemoryLayout<Float>.stride) else {
            fatalError("cannot allocate a KV cache of \(2 * count * MemoryLayout<Float>.stride) bytes")
        }
        self.keys = keys.bindMemory(to: Float.self, capacity: count)
        self.values = values.bindMemory(to: Float.self, capacity: count)
    }

    deinit {
        free(keys)
        free(values)
    }

    /// Whether the cache stores layer `layer`'s keys and values.
    public func holds(layer: Int) -> Bool {
        layerRange.contains(layer) && storageIndex[layer - layerRange.lowerBound] >= 0
    }

    /// The slot index (within a layer) of token `position` of a sequence whose block for position `p` is
    /// `tables[base + p / blockSize]` (`base` is negative-offset for a windowed table that starts past block 0).
    @inline(__always)
    func slot(_ tables: UnsafePointer<Int32>, base: Int, _ position: Int) -> Int {
        Int(tables[base + position / blockSize]) * blockSize + position % blockSize
    }

    /// Layer `layer`'s keys; slot `s` starts at `s * kvDim`.
    @inline(__always)
    func keys(layer: Int) -> UnsafeMutablePointer<Float> {
        keys + storageIndex[layer - layerRange.lowerBound] * layerStride
    }

    /// Layer `layer`'s values; slot `s` starts at `s * kvDim`.
    @inline(__always)
    func values(layer: Int) -> UnsafeMutablePointer<Float> {
        values + storageIndex[layer - layerRange.lowerBound] * layerStride
    }
}

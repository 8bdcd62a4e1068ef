#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Key/value cache storage for one pipeline stage's layers, split into fixed-size blocks of token slots.
///
/// A sequence owns a list of block ids (its block table); token position `p` lives in block `table[p / blockSize]`,
/// slot `p % blockSize`. Which block ids a sequence gets is decided by a block manager outside this type (deterministic
/// on every rank); the cache only stores vectors.
///
/// `@unchecked Sendable`: the storage is written only by `DecoderStage.forward` for the slots of the sequences in the
/// batch being run, and one stage runs one batch at a time on its rank's loop thread; concurrent kernel threads inside
/// a forward only read slots that were written before they started.
public final class PagedKVCache: @unchecked Sendable {
    public let layerRange: Range<Int>
    public let blockSize: Int
    public let blockCount: Int
    public let kvDim: Int
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>

    /// Floats stored per layer.
    var layerStride: Int { blockCount * blockSize * kvDim }

    /// Bytes needed for `blockCount` blocks of `blockSize` tokens over `layers` layers.
    public static func bytes(layers: Int, blockCount: Int, blockSize: Int, kvDim: Int) -> Int {
        2 * layers * blockCount * blockSize * kvDim * MemoryLayout<Float>.size
    }

    /// Allocates the cache. `blockSize` and `blockCount` must be positive.
    public init(layerRange: Range<Int>, blockSize: Int, blockCount: Int, kvDim: Int) {
        precondition(blockSize > 0 && blockCount > 0 && kvDim > 0)
        self.layerRange = layerRange
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.kvDim = kvDim
        let count = max(1, layerRange.count) * blockCount * blockSize * kvDim
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


    /// The slot index (within a layer) of token `position` of a sequence with block table `table`.
    @inline(__always)
    func slot(_ table: UnsafePointer<Int32>, _ position: Int) -> Int {
        Int(table[position / blockSize]) * blockSize + position % blockSize
    }

    @inline(__always)
    func key(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        keys + (layer - layerRange.lowerBound) * layerStride + slot * kvDim
    }

    @inline(__always)
    func value(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        values + (layer - layerRange.lowerBound) * layerStride + slot * kvDim
    }
}

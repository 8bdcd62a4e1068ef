import Foundation
import Kernels

/// Per-token facts of a batch shared by every layer: which sequence a token belongs to, its position, and its RoPE
/// rotations (one table per distinct RoPE of the stage, computed once per forward in double precision like the numpy
/// reference).
struct BatchPlan {
    /// For each token: its sequence's index in the batch.
    var sequence: [Int] = []
    /// For each token: its position in its sequence.
    var position: [Int] = []
    /// The sequences' full block tables (every position), for layers that attend to the whole sequence.
    var tables = BlockTables()
    /// The sequences' windowed block tables (the positions the window still sees), for sliding-window layers whose
    /// keys and values live in the stage's windowed cache.
    var windowTables = BlockTables()
    /// `rotations[rope]`: the cosines and sines of that RoPE's angles, `[token][pair]`.
    var rotations: [Rotation] = []

    struct Rotation {
        var cos: [Double] = []
        var sin: [Double] = []
        let pairs: Int
        let pairing: RoPEPairing
    }

    /// The block tables of a batch, flattened: sequence `s`'s block for position `p` is `entries[base[s] + p / blockSize]`.
    struct BlockTables {
        var entries: [Int32] = []
        /// Per sequence; negative past the entries' start for a windowed table whose first entry covers a later block.
        var base: [Int] = []

        mutating func append(_ table: [Int32], firstBlock: Int) {
            base.append(entries.count - firstBlock)
            entries.append(contentsOf: table)
        }
    }

    /// - Parameter windowBlockSize: the windowed cache's block size, when the stage has one.
    init(batch: [SequenceChunk], headDim: Int, ropes: [RoPE], windowBlockSize: Int? = nil) {
        for (s, chunk) in batch.enumerated() {
            tables.append(chunk.blockTable, firstBlock: 0)
            if let windowBlockSize { windowTables.append(chunk.windowBlockTable, firstBlock: chunk.windowStart / windowBlockSize) }
            for i in 0..<chunk.tokenCount {
                sequence.append(s)
                position.append(chunk.startPosition + i)
            }
        }
        for rope in ropes {
            var rotation = Rotation(pairs: headDim / 2, pairing: rope.pairing)
            let frequencies = rope.inverseFrequencies(headDim: headDim)
            rotation.cos.reserveCapacity(position.count * rotation.pairs)
            rotation.sin.reserveCapacity(position.count * rotation.pairs)
            for p in position {
                for f in frequencies {
                    let angle = Double(p) * f
                    rotation.cos.append(Foundation.cos(angle))
                    rotation.sin.append(Foundation.sin(angle))
                }
            }
            rotations.append(rotation)
        }
    }

    var tokenCount: Int { position.count }
}

/// What every layer of a forward pass shares: the model's shape, the batch, the KV cache holding this layer (the
/// stage's windowed cache for a sliding-window layer, when it has one) with the block tables that address it, and the
/// layer's index.
struct LayerContext {
    let config: ModelConfig
    let plan: BatchPlan
    let cache: PagedKVCache
    /// `plan.tables` or `plan.windowTables`, whichever addresses `cache`.
    let tables: BatchPlan.BlockTables
    /// The layer's index in the whole model (the cache is addressed by it).
    let layer: Int
    var tokens: Int { plan.tokenCount }
}

/// RMS normalization with a learned weight (`x / rms(x) · w`), row by row over `weight.count` columns.
struct RMSNorm: Sendable {
    let weight: [Float]
    let eps: Float

    init(_ store: TensorStore, _ name: String, count: Int, eps: Float) throws(ModelFileError) {
        weight = try store.vector(name, count: count)
        self.eps = eps
    }

    /// Every `weight.count`-wide row of `x` normalized.
    func callAsFunction(_ x: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        let d = weight.count
        x.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { out in
                    for i in 0..<(x.count / d) {
                        VectorOps.rmsNorm(x.baseAddress! + i * d, weight: w.baseAddress!, eps: eps, d, into: out.baseAddress! + i * d)
                    }
                }
            }
        }
        return out
    }
}

extension Projection {
    /// `input` (`tokens` rows) quantized for the integer kernels if any of `weights` (the projections of this one
    /// input) use them, within the tightest activation limit among them; else nil.
    static func quantize(_ input: [Float], tokens: Int, for weights: [Projection]) -> QuantizedActivations? {
        guard weights.contains(where: \.wantsQuantizedInput) else { return nil }
        let maximum = weights.map(\.activationLimit).min()!
        return input.withUnsafeBufferPointer {
            QuantizedActivations($0.baseAddress!, tokens: tokens, columns: weights[0].columns, maximum: maximum)
        }
    }

    /// `input · Wᵀ` for `tokens` rows: `tokens × rows` floats.
    func callAsFunction(_ input: [Float], tokens: Int) -> [Float] {
        var out = [Float](repeating: 0, count: tokens * rows)
        let quantized = Projection.quantize(input, tokens: tokens, for: [self])
        input.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { multiply(input.baseAddress!, quantized: quantized, tokens: tokens, into: $0.baseAddress!) }
        }
        return out
    }

    /// Several projections of one input (Q/K/V, gate/up) as one parallel job: their outputs, in order.
    static func multiply(_ projections: [Projection], _ input: [Float], tokens: Int) -> [[Float]] {
        let quantized = Projection.quantize(input, tokens: tokens, for: projections)
        // One buffer holds every output, so that one pointer scope covers the whole job.
        let sizes = projections.map { tokens * $0.rows }
        var all = [Float](repeating: 0, count: sizes.reduce(0, +))
        all.withUnsafeMutableBufferPointer { all in
            input.withUnsafeBufferPointer { input in
                var targets: [(projection: Projection, output: UnsafeMutablePointer<Float>)] = []
                var offset = 0
                for (projection, size) in zip(projections, sizes) {
                    targets.append((projection, all.baseAddress! + offset))
                    offset += size
                }
                Projection.multiply(targets, input.baseAddress!, quantized: quantized, tokens: tokens)
            }
        }
        var outputs: [[Float]] = []
        var offset = 0
        for size in sizes {
            outputs.append(Array(all[offset..<offset + size]))
            offset += size
        }
        return outputs
    }
}

/// `x += y`, element by element.
func addInPlace(_ x: inout [Float], _ y: [Float]) {
    let n = x.count
    x.withUnsafeMutableBufferPointer { x in
        y.withUnsafeBufferPointer { y in VectorOps.add(x.baseAddress!, y.baseAddress!, n) }
    }
}

/// `values[t, r] += bias[r]` for every token (one rounding, as if added inside the product).
func addBias(_ bias: [Float]?, to values: inout [Float]) {
    guard let bias, !bias.isEmpty else { return }
    let rows = bias.count
    values.withUnsafeMutableBufferPointer { values in
        bias.withUnsafeBufferPointer { bias in
            for token in 0..<(values.count / rows) { VectorOps.add(values.baseAddress! + token * rows, bias.baseAddress!, rows) }
        }
    }
}

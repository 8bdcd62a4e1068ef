import Foundation
import Kernels

/// Per-token facts of a batch shared by every layer: which sequence a token belongs to, its position, and its RoPE
/// rotation (computed once per forward, in double precision like the numpy reference).
struct BatchPlan {
    /// For each token: its sequence's index in the batch.
    var sequence: [Int] = []
    /// For each token: its position in its sequence.
    var position: [Int] = []
    /// Block tables, flattened; `tableStart[s]` is where sequence `s`'s table begins.
    var tables: [Int32] = []
    var tableStart: [Int] = []
    /// `[token][pair]` cosines and sines of the rotation angle.
    var cos: [Double] = []
    var sin: [Double] = []
    let pairs: Int

    init(batch: [SequenceChunk], config: LlamaConfig, inverseFrequencies: [Double]) {
        pairs = config.headDim / 2
        for (s, chunk) in batch.enumerated() {
            tableStart.append(tables.count)
            tables.append(contentsOf: chunk.blockTable)
            for i in 0..<chunk.tokenCount {
                sequence.append(s)
                position.append(chunk.startPosition + i)
            }
        }
        cos.reserveCapacity(position.count * pairs)
        sin.reserveCapacity(position.count * pairs)
        for p in position {
            for f in inverseFrequencies {
                let angle = Double(p) * f
                cos.append(Foundation.cos(angle))
                sin.append(Foundation.sin(angle))
            }
        }
    }

    var tokenCount: Int { position.count }
}

extension LlamaStage {
    /// One transformer block: `x += attention(norm(x)); x += ffn(norm(x))`, for every token of the batch.
    func runLayer(_ layer: Layer, index: Int, x: inout [Float], plan: BatchPlan, cache: PagedKVCache) {
        let t = plan.tokenCount, d = config.hiddenSize, f = config.intermediateSize
        let qDim = config.qDim, kvDim = config.kvDim
        var normed = [Float](repeating: 0, count: t * d)
        var q = [Float](repeating: 0, count: t * qDim)
        var k = [Float](repeating: 0, count: t * kvDim)
        var v = [Float](repeating: 0, count: t * kvDim)
        var attention = [Float](repeating: 0, count: t * qDim)
        var projected = [Float](repeating: 0, count: t * d)

        // Attention block.
        rmsNormRows(x, layer.attentionNorm, tokens: t, into: &normed)
        normed.withUnsafeBufferPointer { input in
            q.withUnsafeMutableBufferPointer { q in
                k.withUnsafeMutableBufferPointer { k in
                    v.withUnsafeMutableBufferPointer { v in
                        Projection.multiply([(layer.q, q.baseAddress!), (layer.k, k.baseAddress!), (layer.v, v.baseAddress!)],
                                            input.baseAddress!, quantized: quantize(normed, tokens: t, for: layer.q, layer.k, layer.v), tokens: t)
                    }
                }
            }
        }
        addBias(layer.qBias, to: &q)
        addBias(layer.kBias, to: &k)
        addBias(layer.vBias, to: &v)
        rotate(&q, heads: config.headCount, plan: plan)
        rotate(&k, heads: config.kvHeadCount, plan: plan)
        store(k: k, v: v, layer: index, plan: plan, cache: cache)
        attend(q: q, layer: index, plan: plan, cache: cache, into: &attention)
        project(layer.o, attention, quantize(attention, tokens: t, for: layer.o), t, into: &projected)
        addInPlace(&x, projected)

        // Feed-forward block (SwiGLU).
        var gate = [Float](repeating: 0, count: t * f)
        var up = [Float](repeating: 0, count: t * f)
        rmsNormRows(x, layer.ffnNorm, tokens: t, into: &normed)
        normed.withUnsafeBufferPointer { input in
            gate.withUnsafeMutableBufferPointer { gate in
                up.withUnsafeMutableBufferPointer { up in
                    Projection.multiply([(layer.gate, gate.baseAddress!), (layer.up, up.baseAddress!)],
                                        input.baseAddress!, quantized: quantize(normed, tokens: t, for: layer.gate, layer.up), tokens: t)
                }
            }
        }
        gate.withUnsafeMutableBufferPointer { g in
            up.withUnsafeBufferPointer { u in VectorOps.swiGLU(g.baseAddress!, up: u.baseAddress!, t * f) }
        }
        project(layer.down, gate, quantize(gate, tokens: t, for: layer.down), t, into: &projected)
        addInPlace(&x, projected)
    }

    func rmsNormRows(_ x: [Float], _ weight: [Float], tokens: Int, into out: inout [Float]) {
        let d = config.hiddenSize, eps = config.rmsNormEps
        x.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { out in
                    for i in 0..<tokens {
                        VectorOps.rmsNorm(x.baseAddress! + i * d, weight: w.baseAddress!, eps: eps, d, into: out.baseAddress! + i * d)
                    }
                }
            }
        }
    }

    /// `input` quantized for the integer kernels if any of `weights` (the projections of this one input) use them,
    /// within the tightest activation limit among them; else nil.
    func quantize(_ input: [Float], tokens: Int, for weights: Projection...) -> QuantizedActivations? {
        guard weights.contains(where: \.wantsQuantizedInput) else { return nil }
        let maximum = weights.map(\.activationLimit).min()!
        return input.withUnsafeBufferPointer {
            QuantizedActivations($0.baseAddress!, tokens: tokens, columns: weights[0].columns, maximum: maximum)
        }
    }

    func project(_ w: Projection, _ input: [Float], _ quantized: QuantizedActivations?, _ tokens: Int, into out: inout [Float]) {
        input.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { w.multiply(input.baseAddress!, quantized: quantized, tokens: tokens, into: $0.baseAddress!) }
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

    func addInPlace(_ x: inout [Float], _ y: [Float]) {
        let n = x.count
        x.withUnsafeMutableBufferPointer { x in
            y.withUnsafeBufferPointer { y in VectorOps.add(x.baseAddress!, y.baseAddress!, n) }
        }
    }

    /// Applies RoPE to every head of every token, pairing dimensions as the model file requires.
    func rotate(_ values: inout [Float], heads: Int, plan: BatchPlan) {
        let hd = config.headDim, pairs = plan.pairs, adjacent = config.ropePairing == .adjacent
        values.withUnsafeMutableBufferPointer { values in
            for token in 0..<plan.tokenCount {
                let angles = token * pairs
                for h in 0..<heads {
                    let head = values.baseAddress! + (token * heads + h) * hd
                    for i in 0..<pairs {
                        let (a, b) = adjacent ? (2 * i, 2 * i + 1) : (i, i + pairs)
                        let x0 = Double(head[a]), x1 = Double(head[b])
                        let c = plan.cos[angles + i], s = plan.sin[angles + i]
                        head[a] = Float(x0 * c - x1 * s)
                        head[b] = Float(x0 * s + x1 * c)
                    }
                }
            }
        }
    }

    /// Writes every token's rotated key and its value into its cache slot.
    func store(k: [Float], v: [Float], layer: Int, plan: BatchPlan, cache: PagedKVCache) {
        let kvDim = config.kvDim
        plan.tables.withUnsafeBufferPointer { tables in
            for token in 0..<plan.tokenCount {
                let table = tables.baseAddress! + plan.tableStart[plan.sequence[token]]
                let slot = cache.slot(table, plan.position[token])
                k.withUnsafeBufferPointer { cache.key(layer: layer, slot: slot).update(from: $0.baseAddress! + token * kvDim, count: kvDim) }
                v.withUnsafeBufferPointer { cache.value(layer: layer, slot: slot).update(from: $0.baseAddress! + token * kvDim, count: kvDim) }
            }
        }
    }
}

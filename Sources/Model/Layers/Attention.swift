import Kernels

/// Self-attention with its weights: Q/K/V projections (with Qwen2's optional biases and Qwen3/Gemma 3's per-head Q/K
/// RMS norms), RoPE, the paged KV cache, causal (optionally sliding-window) attention, and the output projection.
struct AttentionBlock: Sendable {
    var q, k, v, o: Projection
    var qBias, kBias, vBias: [Float]?
    var qNorm, kNorm: RMSNorm?
    /// Which of the stage's RoPE tables this layer rotates with.
    var ropeIndex: Int
    /// How many positions a token sees, itself included (nil: the whole sequence).
    var window: Int?

    /// Reads layer `layer`'s attention tensors (`blk.L.attn_*`); `ropes` collects the stage's distinct RoPEs.
    init(_ store: TensorStore, layer: Int, config: ModelConfig, ropes: inout [RoPE]) throws(ModelFileError) {
        let p = "blk.\(layer).", d = config.hiddenSize, qDim = config.qDim, kvDim = config.kvDim
        q = try store.projection(p + "attn_q.weight", rows: qDim, columns: d)
        k = try store.projection(p + "attn_k.weight", rows: kvDim, columns: d)
        v = try store.projection(p + "attn_v.weight", rows: kvDim, columns: d)
        o = try store.projection(p + "attn_output.weight", rows: d, columns: qDim)
        if config.hasQKVBias {
            qBias = try store.vector(p + "attn_q.bias", count: qDim)
            kBias = try store.vector(p + "attn_k.bias", count: kvDim)
            vBias = try store.vector(p + "attn_v.bias", count: kvDim)
        }
        if config.hasQKNorm {
            qNorm = try RMSNorm(store, p + "attn_q_norm.weight", count: config.headDim, eps: config.rmsNormEps)
            kNorm = try RMSNorm(store, p + "attn_k_norm.weight", count: config.headDim, eps: config.rmsNormEps)
        }
        let (rope, window) = config.attention(layer: layer)
        if let index = ropes.firstIndex(of: rope) {
            ropeIndex = index
        } else {
            ropeIndex = ropes.count
            ropes.append(rope)
        }
        self.window = window
    }

    /// The block's output (`tokens × hidden`) for the normalized input `normed`; stores the batch's keys and values
    /// in the cache first.
    func callAsFunction(_ normed: [Float], _ context: LayerContext) -> [Float] {
        let config = context.config
        let qkv = Projection.multiply([q, k, v], normed, tokens: context.tokens)
        var queries = qkv[0], keys = qkv[1], values = qkv[2]
        addBias(qBias, to: &queries)
        addBias(kBias, to: &keys)
        addBias(vBias, to: &values)
        if let qNorm { queries = qNorm(queries) }
        if let kNorm { keys = kNorm(keys) }
        let rotation = context.plan.rotations[ropeIndex]
        rotate(&queries, heads: config.headCount, headDim: config.headDim, rotation)
        rotate(&keys, heads: config.kvHeadCount, headDim: config.headDim, rotation)
        store(keys: keys, values: values, context)
        var attention = [Float](repeating: 0, count: context.tokens * config.qDim)
        attend(queries, context, into: &attention)
        return o(attention, tokens: context.tokens)
    }

    /// Applies RoPE to every head of every token, pairing dimensions as the model file requires.
    func rotate(_ values: inout [Float], heads: Int, headDim hd: Int, _ rotation: BatchPlan.Rotation) {
        let pairs = rotation.pairs, adjacent = rotation.pairing == .adjacent
        values.withUnsafeMutableBufferPointer { values in
            for token in 0..<(values.count / (heads * hd)) {
                let angles = token * pairs
                for h in 0..<heads {
                    let head = values.baseAddress! + (token * heads + h) * hd
                    for i in 0..<pairs {
                        let (a, b) = adjacent ? (2 * i, 2 * i + 1) : (i, i + pairs)
                        let x0 = Double(head[a]), x1 = Double(head[b])
                        let c = rotation.cos[angles + i], s = rotation.sin[angles + i]
                        head[a] = Float(x0 * c - x1 * s)
                        head[b] = Float(x0 * s + x1 * c)
                    }
                }
            }
        }
    }

    /// Writes every token's rotated key and its value into its cache slot.
    func store(keys k: [Float], values v: [Float], _ context: LayerContext) {
        let kvDim = context.config.kvDim, plan = context.plan, cache = context.cache, tables = context.tables
        let keys = cache.keys(layer: context.layer), values = cache.values(layer: context.layer)
        tables.entries.withUnsafeBufferPointer { entries in
            for token in 0..<plan.tokenCount {
                let slot = cache.slot(entries.baseAddress!, base: tables.base[plan.sequence[token]], plan.position[token])
                k.withUnsafeBufferPointer { (keys + slot * kvDim).update(from: $0.baseAddress! + token * kvDim, count: kvDim) }
                v.withUnsafeBufferPointer { (values + slot * kvDim).update(from: $0.baseAddress! + token * kvDim, count: kvDim) }
            }
        }
    }

    /// Causal attention of every (token, head) over its own sequence's cached positions: `0...position`, or the last
    /// `window` of them.
    ///
    /// One work item is a token and a KV head: its query heads (grouped-query attention) share each key and value
    /// they read (with few tokens, as in decode, each query head is an item of its own, so the threads get even
    /// shares). The slots of the sequence's positions are looked up once per item. Every (token, head) result is
    /// computed in the same order whatever its batch-mates: scores with `VectorOps.dot`, `VectorOps.softmax`, then
    /// values accumulated position by position.
    func attend(_ q: [Float], _ context: LayerContext, into out: inout [Float]) {
        let plan = context.plan, kvHeads = context.config.kvHeadCount
        // Few tokens (decode): one item per query head, so the threads get even shares.
        if plan.tokenCount * kvHeads < 4 * KernelThreads.count && context.config.headCount > kvHeads {
            attendByHead(q, context, into: &out)
        } else {
            attendTiled(q, context, into: &out)
        }
    }

    /// One work item per token and query head (decode: too few tokens to give every thread a share otherwise).
    private func attendByHead(_ q: [Float], _ context: LayerContext, into out: inout [Float]) {
        let config = context.config, plan = context.plan, cache = context.cache, tables = context.tables
        let keyBase = cache.keys(layer: context.layer), valueBase = cache.values(layer: context.layer)
        let hd = config.headDim, kvDim = config.kvDim, kvHeads = config.kvHeadCount, group = config.headCount / kvHeads
        let scale = config.attentionScale ?? 1 / Float(hd).squareRoot()
        let longest = min((plan.position.max() ?? 0) + 1, window ?? Int.max)
        let window = self.window
        q.withUnsafeBufferPointer { q in
            tables.entries.withUnsafeBufferPointer { entries in
                out.withUnsafeMutableBufferPointer { out in
                    let q = q.baseAddress!, entries = entries.baseAddress!, out = out.baseAddress!
                    parallelChunks(plan.tokenCount * kvHeads * group, minimumPerChunk: 1) { range in
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: longest) { scores in
                            withUnsafeTemporaryAllocation(of: Int.self, capacity: longest) { slots in
                                let scores = scores.baseAddress!, slots = slots.baseAddress!
                                for item in range {
                                    let token = item / (kvHeads * group), kvHead = item / group % kvHeads, h = item % group
                                    let end = plan.position[token] + 1
                                    let start = window.map { max(0, end - $0) } ?? 0
                                    let length = end - start
                                    let base = tables.base[plan.sequence[token]]
                                    for i in 0..<length { slots[i] = cache.slot(entries, base: base, start + i) * kvDim }
                                    let head = token * config.headCount + kvHead * group + h
                                    for i in 0..<length {
                                        scores[i] = VectorOps.dot(q + head * hd, keyBase + slots[i] + kvHead * hd, hd) * scale
                                    }
                                    VectorOps.softmax(scores, length)
                                    weightedValues(scores, values: valueBase, offsets: slots, length: length,
                                                   offset: kvHead * hd, headDim: hd, into: out + head * hd)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Consecutive tokens of one sequence (a prefill chunk), in tiles of up to 8.
    private func tiles(_ plan: BatchPlan, kvHeads: Int) -> [Range<Int>] {
        // Tiles as large as 8 tokens while that leaves every thread 4 items or more.
        let size = max(1, min(8, plan.tokenCount * kvHeads / (4 * KernelThreads.count)))
        var tiles: [Range<Int>] = []
        var first = 0
        for token in 0..<plan.tokenCount {
            let continues = token > first && token - first < size && plan.sequence[token] == plan.sequence[token - 1]
                && plan.position[token] == plan.position[token - 1] + 1
            if !continues && token > first {
                tiles.append(first..<token)
                first = token
            }
        }
        if plan.tokenCount > first { tiles.append(first..<plan.tokenCount) }
        return tiles
    }

    /// One work item per tile of consecutive tokens and KV head: every key and value the tile reads is loaded once
    /// for all its tokens and query heads (grouped-query attention), instead of once per token. Each (token, head)
    /// result is computed exactly as `attendByHead` computes it: scores with `VectorOps.dot`, `VectorOps.softmax`,
    /// then values accumulated position by position with fused multiply-adds; only the order across tokens changes.
    private func attendTiled(_ q: [Float], _ context: LayerContext, into out: inout [Float]) {
        let config = context.config, plan = context.plan, cache = context.cache, tables = context.tables
        let keyBase = cache.keys(layer: context.layer), valueBase = cache.values(layer: context.layer)
        let hd = config.headDim, kvHeads = config.kvHeadCount, group = config.headCount / kvHeads
        let scale = config.attentionScale ?? 1 / Float(hd).squareRoot()
        let window = self.window
        let tiles = tiles(plan, kvHeads: kvHeads)
        let widest = tiles.map(\.count).max() ?? 1
        // Positions a tile reads: its last token's, and with a window the tile's spread of starts.
        let longest = min((plan.position.max() ?? 0) + 1, window.map { $0 + widest } ?? Int.max)
        let span = min((plan.position.max() ?? 0) + 1, window ?? Int.max)
        q.withUnsafeBufferPointer { q in
            tables.entries.withUnsafeBufferPointer { entries in
                out.withUnsafeMutableBufferPointer { out in
                    let q = q.baseAddress!, entries = entries.baseAddress!, out = out.baseAddress!
                    parallelChunks(tiles.count * kvHeads, minimumPerChunk: 1) { range in
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: widest * group * span) { scores in
                            withUnsafeTemporaryAllocation(of: Int.self, capacity: longest) { slots in
                                withUnsafeTemporaryAllocation(of: Float.self, capacity: widest * group * hd) { sums in
                                    let scores = scores.baseAddress!, slots = slots.baseAddress!, sums = sums.baseAddress!
                                    for item in range {
                                        let tile = tiles[item / kvHeads], kvHead = item % kvHeads
                                        attendTile(tile, kvHead: kvHead, q: q, out: out, scores: scores, span: span,
                                                   slots: slots, sums: sums, entries: entries, keyBase: keyBase,
                                                   valueBase: valueBase, context: context, group: group, scale: scale)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func attendTile(_ tile: Range<Int>, kvHead: Int, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                            scores: UnsafeMutablePointer<Float>, span: Int, slots: UnsafeMutablePointer<Int>,
                            sums: UnsafeMutablePointer<Float>, entries: UnsafePointer<Int32>, keyBase: UnsafePointer<Float>,
                            valueBase: UnsafePointer<Float>, context: LayerContext, group: Int, scale: Float) {
        let config = context.config, plan = context.plan, cache = context.cache
        let hd = config.headDim, kvDim = config.kvDim
        let ends = tile.map { plan.position[$0] + 1 }
        let starts = ends.map { end in window.map { max(0, end - $0) } ?? 0 }
        let low = starts[0], high = ends[ends.count - 1]
        let base = context.tables.base[plan.sequence[tile.lowerBound]]
        for i in low..<high { slots[i - low] = cache.slot(entries, base: base, i) * kvDim }
        // Row (j, h) of the tile: token tile[j], query head h of this KV head, its scores at `scores + row · span`.
        let rows = tile.count * group
        func head(_ row: Int) -> Int { (tile.lowerBound + row / group) * config.headCount + kvHead * group + row % group }
        // 1. Scores: each key once, for every token that sees it.
        for i in low..<high {
            let key = keyBase + slots[i - low] + kvHead * hd
            for j in 0..<tile.count where starts[j] <= i && i < ends[j] {
                for h in 0..<group {
                    let row = j * group + h
                    scores[row * span + i - starts[j]] = VectorOps.dot(q + head(row) * hd, key, hd) * scale
                }
            }
        }
        // 2. Softmax of each row.
        for row in 0..<rows { VectorOps.softmax(scores + row * span, ends[row / group] - starts[row / group]) }
        // 3. Values: each value once, accumulated into every row that sees it, in position order.
        sums.initialize(repeating: 0, count: rows * hd)
        let vectorColumns = hd / 32 * 32
        for i in low..<high {
            let value = valueBase + slots[i - low] + kvHead * hd
            for j in 0..<tile.count where starts[j] <= i && i < ends[j] {
                for h in 0..<group {
                    let row = j * group + h
                    let weight = scores[row * span + i - starts[j]], sum = sums + row * hd
                    let w = SIMD8<Float>(repeating: weight)
                    var column = 0
                    while column < vectorColumns {
                        let v = UnsafeRawPointer(value + column), target = UnsafeMutableRawPointer(sum + column)
                        for lane in stride(from: 0, to: 128, by: 32) {
                            var a = target.loadUnaligned(fromByteOffset: lane, as: SIMD8<Float>.self)
                            a.addProduct(w, v.loadUnaligned(fromByteOffset: lane, as: SIMD8<Float>.self))
                            target.storeBytes(of: a, toByteOffset: lane, as: SIMD8<Float>.self)
                        }
                        column += 32
                    }
                    while column < hd {
                        sum[column] = sum[column].addingProduct(weight, value[column])
                        column += 1
                    }
                }
            }
        }
        for row in 0..<rows { (out + head(row) * hd).update(from: sums + row * hd, count: hd) }
    }

    /// `result = Σ_p weights[p] · value(p)` over `hd` columns, where position `p`'s value vector starts at
    /// `values + offsets[p] + offset`; 32 columns at a time in registers, each column one fused multiply-add per
    /// position, in position order.
    @inline(__always)
    private func weightedValues(_ weights: UnsafePointer<Float>, values: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                                length: Int, offset: Int, headDim hd: Int, into result: UnsafeMutablePointer<Float>) {
        var column = 0
        while column + 32 <= hd {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            for position in 0..<length {
                let value = UnsafeRawPointer(values + offsets[position] + offset + column)
                let w = SIMD8<Float>(repeating: weights[position])
                a0.addProduct(w, value.loadUnaligned(as: SIMD8<Float>.self))
                a1.addProduct(w, value.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                a2.addProduct(w, value.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                a3.addProduct(w, value.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
            }
            let target = UnsafeMutableRawPointer(result + column)
            target.storeBytes(of: a0, as: SIMD8<Float>.self)
            target.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
            target.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
            target.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
            column += 32
        }
        while column < hd {
            var sum: Float = 0
            for position in 0..<length {
                sum = sum.addingProduct(weights[position], values[offsets[position] + offset + column])
            }
            result[column] = sum
            column += 1
        }
    }
}

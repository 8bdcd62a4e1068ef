import Kernels

extension LlamaStage {
    /// Causal attention of every (token, head) over its own sequence's cached positions `0...position`.
    ///
    /// One work item is a token and a KV head: its query heads (grouped-query attention) share each key and value
    /// they read (with few tokens, as in decode, each query head is an item of its own, so the threads get even shares). The slots of the sequence's positions are looked up once per item. Every (token, head) result is
    /// computed in the same order whatever its batch-mates: scores with `VectorOps.dot`, `VectorOps.softmax`, then
    /// values accumulated position by position.
    func attend(q: [Float], layer: Int, plan: BatchPlan, cache: PagedKVCache, into out: inout [Float]) {
        let hd = config.headDim, kvHeads = config.kvHeadCount, group = config.headCount / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let longest = (plan.position.max() ?? 0) + 1
        q.withUnsafeBufferPointer { q in
            plan.tables.withUnsafeBufferPointer { tables in
                out.withUnsafeMutableBufferPointer { out in
                    let q = q.baseAddress!, tables = tables.baseAddress!, out = out.baseAddress!
                    // Few tokens (decode): one item per query head, so the threads get even shares.
                    let pieces = plan.tokenCount * kvHeads >= 4 * KernelThreads.count ? 1 : group
                    parallelChunks(plan.tokenCount * kvHeads * pieces, minimumPerChunk: 1) { range in
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: group * longest) { scores in
                            withUnsafeTemporaryAllocation(of: Int.self, capacity: longest) { slots in
                                let scores = scores.baseAddress!, slots = slots.baseAddress!
                                for item in range {
                                    let token = item / (kvHeads * pieces), kvHead = item / pieces % kvHeads
                                    let ownHeads = (item % pieces) * group / pieces ..< (item % pieces + 1) * group / pieces
                                    let length = plan.position[token] + 1
                                    let table = tables + plan.tableStart[plan.sequence[token]]
                                    for position in 0..<length { slots[position] = cache.slot(table, position) }
                                    let firstHead = token * config.headCount + kvHead * group
                                    // 1. Scores of each query head against every key.
                                    for position in 0..<length {
                                        let key = cache.key(layer: layer, slot: slots[position]) + kvHead * hd
                                        for i in ownHeads {
                                            scores[i * length + position] = VectorOps.dot(q + (firstHead + i) * hd, key, hd) * scale
                                        }
                                    }
                                    // 2. Softmax, 3. the weighted sum of values.
                                    for i in ownHeads {
                                        let weights = scores + i * length
                                        VectorOps.softmax(weights, length)
                                        weightedValues(weights, slots: slots, length: length, layer: layer, offset: kvHead * hd,
                                                       cache: cache, into: out + (firstHead + i) * hd)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `result = Σ_p weights[p] · value(p)` over `hd` columns, 32 columns at a time in registers; each column is one
    /// fused multiply-add per position, in position order.
    @inline(__always)
    private func weightedValues(_ weights: UnsafePointer<Float>, slots: UnsafePointer<Int>, length: Int, layer: Int,
                                offset: Int, cache: PagedKVCache, into result: UnsafeMutablePointer<Float>) {
        let hd = config.headDim
        var column = 0
        while column + 32 <= hd {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            for position in 0..<length {
                let value = UnsafeRawPointer(cache.value(layer: layer, slot: slots[position]) + offset + column)
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
                sum = sum.addingProduct(weights[position], cache.value(layer: layer, slot: slots[position])[offset + column])
            }
            result[column] = sum
            column += 1
        }
    }
}

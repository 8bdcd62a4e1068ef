import Kernels

/// A scalar Swift reference for the integer kernels of every packed encoding, written from the GGUF block layouts
/// (`Dequantize.swift`) rather than from the panels: it decodes each block's integer quants and epilogue factors,
/// sums `quant × activation quant` exactly per group of 8 columns, and applies the documented float epilogue
/// (`PanelLayout`) with the same fused multiply-adds in the same order. Every kernel path must match it bit for bit.
enum ReferenceKernel {
    /// One GGUF block as the kernels see it: integer quants in column order, and per unit of `unit` columns (32, or
    /// 16 for Q2_K, Q3_K, Q6_K) the factor `D` of the unit's sum and the optional offset `O` that multiplies `Σx`.
    struct Block {
        var quants: [Int]
        var unit: Int
        var factors: [Float]
        var offsets: [Float?]
    }

    static let iq4: [Int] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float { Float(Float16(bitPattern: (p + offset).loadUnaligned(as: UInt16.self))) }

    /// Q4_K/Q5_K's 6-bit scale and min of sub-block `j`.
    static func kScale(_ s: UnsafeRawPointer, _ j: Int) -> (Int, Int) {
        let b = { Int(s.load(fromByteOffset: $0, as: UInt8.self)) }
        if j < 4 { return (b(j) & 63, b(j + 4) & 63) }
        return ((b(j + 4) & 15) | (b(j - 4) >> 6) << 4, (b(j + 4) >> 4) | (b(j) >> 6) << 4)
    }

    /// Decodes the block of `type` at `p`.
    static func decode(_ type: TensorType, _ p: UnsafeRawPointer) -> Block {
        let byte = { (offset: Int) in Int(p.load(fromByteOffset: offset, as: UInt8.self)) }
        let n = type.blockElements
        var q = [Int](repeating: 0, count: n)
        /// Q4_0-style nibbles of 16 bytes at `at` into columns `base ..< base + 32`.
        func nibbles(_ at: Int, _ base: Int, _ map: (Int) -> Int = { $0 }) {
            for j in 0..<16 {
                q[base + j] = map(byte(at + j) & 15)
                q[base + j + 16] = map(byte(at + j) >> 4)
            }
        }
        func q5High(_ at: Int) {
            let qh = (p + at).loadUnaligned(as: UInt32.self)
            for c in 0..<32 { q[c] |= Int(qh >> UInt32(c) & 1) << 4 }
        }
        let d = type == .q6_K ? half(p, 208) : type == .q3_K ? half(p, 108) : type == .q2_K ? half(p, 80) : half(p, 0)
        switch type {
        case .q4_0:
            nibbles(2, 0)
            return Block(quants: q, unit: 32, factors: [d], offsets: [d * -8])
        case .q4_1:
            nibbles(4, 0)
            return Block(quants: q, unit: 32, factors: [d], offsets: [half(p, 2)])
        case .q5_0:
            nibbles(6, 0)
            q5High(2)
            return Block(quants: q.map { $0 - 16 }, unit: 32, factors: [d], offsets: [nil])
        case .q5_1:
            nibbles(8, 0)
            q5High(4)
            return Block(quants: q, unit: 32, factors: [d], offsets: [half(p, 2)])
        case .q8_0:
            for c in 0..<32 { q[c] = Int(p.load(fromByteOffset: 2 + c, as: Int8.self)) }
            return Block(quants: q, unit: 32, factors: [d], offsets: [nil])
        case .iq4_nl:
            nibbles(2, 0) { iq4[$0] }
            return Block(quants: q, unit: 32, factors: [d], offsets: [nil])
        case .iq4_xs:
            let high = Int((p + 2).loadUnaligned(as: UInt16.self))
            var factors: [Float] = []
            for j in 0..<8 {
                nibbles(8 + 16 * j, 32 * j) { iq4[$0] }
                let ls = (byte(4 + j / 2) >> (4 * (j % 2))) & 15 | ((high >> (2 * j)) & 3) << 4
                factors.append(d * Float(ls - 32))
            }
            return Block(quants: q, unit: 32, factors: factors, offsets: Array(repeating: nil, count: 8))
        case .q4_K, .q5_K:
            let dmin = half(p, 2), quants = type == .q4_K ? 16 : 48
            var factors: [Float] = [], offsets: [Float?] = []
            for j in 0..<8 {
                let (sc, m) = kScale(p + 4, j)
                factors.append(d * Float(sc))
                offsets.append(-(dmin * Float(m)))
                for l in 0..<32 {
                    q[32 * j + l] = (byte(quants + 32 * (j / 2) + l) >> (4 * (j % 2))) & 15
                    if type == .q5_K { q[32 * j + l] |= ((byte(16 + l) >> j) & 1) << 4 }
                }
            }
            return Block(quants: q, unit: 32, factors: factors, offsets: offsets)
        case .q6_K:
            for e in 0..<256 {
                let h = e / 128, r = e % 128
                let low = (byte(64 * h + r % 64) >> (4 * (r / 64))) & 15, high = (byte(128 + 32 * h + r % 32) >> (2 * (r / 32))) & 3
                q[e] = (low | high << 4) - 32
            }
            let factors = (0..<16).map { d * Float(p.load(fromByteOffset: 192 + $0, as: Int8.self)) }
            return Block(quants: q, unit: 16, factors: factors, offsets: Array(repeating: nil, count: 16))
        case .q3_K:
            for e in 0..<256 {
                let h = e / 128, t = (e % 128) / 32, l = e % 32
                let low = (byte(32 + 32 * h + l) >> (2 * t)) & 3, high = (byte(l) >> (e / 32)) & 1
                q[e] = low - (high == 1 ? 0 : 4)
            }
            let factors = (0..<16).map { s in
                let low = (byte(96 + s % 8) >> (4 * (s / 8))) & 15, high = (byte(96 + 8 + s % 4) >> (2 * (s / 4))) & 3
                return d * Float((low | high << 4) - 32)
            }
            return Block(quants: q, unit: 16, factors: factors, offsets: Array(repeating: nil, count: 16))
        case .q2_K:
            let dmin = half(p, 82)
            for e in 0..<256 {
                let h = e / 128, t = (e % 128) / 32, l = e % 32
                q[e] = (byte(16 + 32 * h + l) >> (2 * t)) & 3
            }
            return Block(quants: q, unit: 16, factors: (0..<16).map { d * Float(byte($0) & 15) },
                         offsets: (0..<16).map { -(dmin * Float(byte($0) >> 4)) })
        default:
            preconditionFailure("\(type) is not packed")
        }
    }

    /// `y[t, r] = Σ_k W[r, k] · x[t, k] (+ bias[r])` as the kernels compute it, for every token of `x`.
    static func multiply(_ w: WeightMatrix, _ x: QuantizedActivations, bias: [Float]? = nil) -> [Float] {
        var y = [Float](repeating: 0, count: x.tokens * w.rows)
        let perBlock = w.type.blockElements / 32
        for r in 0..<w.rows {
            let blocks = (0..<(w.columns / w.type.blockElements)).map { decode(w.type, w.base + r * w.rowBytes + $0 * w.type.blockBytes) }
            for t in 0..<x.tokens {
                var acc: Float = 0
                for b in 0..<(w.columns / 32) {
                    let block = blocks[b / perBlock], s = b % perBlock
                    let sums = (0..<4).map { g in
                        (0..<8).reduce(0) { $0 + block.quants[32 * s + 8 * g + $1] * Int(x.quant(token: t, column: 32 * b + 8 * g + $1)) }
                    }
                    let units = block.unit == 32 ? [(groups: [0, 2, 1, 3], unit: s, half: nil as Int?)]
                        : [(groups: [0, 1], unit: 2 * s, half: 0), (groups: [2, 3], unit: 2 * s + 1, half: 1)]
                    for unit in units {
                        var S: Float = 0
                        for g in unit.groups { S = S.addingProduct(Float(sums[g]), x.scale(token: t, block: b, group: g)) }
                        acc = acc.addingProduct(S, block.factors[unit.unit])
                        if let offset = block.offsets[unit.unit] { acc = acc.addingProduct(offset, x.sum(token: t, block: b, half: unit.half)) }
                    }
                }
                y[t * w.rows + r] = bias.map { acc + $0[r] } ?? acc
            }
        }
        return y
    }
}

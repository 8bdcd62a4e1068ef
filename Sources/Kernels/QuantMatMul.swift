/// Integer matrix multiplication on packed quantized weights: `y[t, r] = Σ_k W[r, k] · x[t, k] (+ bias[r])` with the
/// activations quantized per half-block (`QuantizedActivations`).
///
/// One SIMD lane per weight row, eight rows per pass. Per half-block of 16 columns, the products of 4-bit weight quants
/// and 9-bit activation quants are summed exactly in 16-bit lanes (`vpmullw`/`vpaddw`; at most 8 products of
/// 15 · 255 per lane, so nothing overflows; for Q8 weights, activations stay within ±127 and pairs of products are
/// widened), widened to 32 bits and converted to
/// float once, then scaled: `acc += Σq·a · (d_w · d_x)`, and for Q4 `acc += m_w · Σx` per block.
///
/// Every (row, token) output is one accumulator lane with the same sequence of operations, whatever the number of
/// tokens, the token tile a token lands in, or the thread that computes its panel: results are batch- and
/// thread-invariant bit for bit.
extension PackedMatrix {
    /// Rows of 8-row panels a thread keeps hot while every token tile streams past them (≈ 32 KB of Q4 weights for
    /// 576 columns).
    static let panelsPerTile = 16

    /// `y[t, r] = Σ_k W[r, k] · x[t, k] (+ bias[r])` for every token of `x`; `y` is `x.tokens × rows`, row-major.
    public func multiply(_ x: QuantizedActivations, into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil) {
        Self.multiply([(self, y, bias)], x)
    }

    /// Several matrices times the same activations (Q, K and V of a layer; gate and up) as one parallel job: the
    /// threads split the panels of all of them, so they meet once instead of once per matrix.
    public static func multiply(_ products: [(matrix: PackedMatrix, output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?)],
                                _ x: QuantizedActivations) {
        let tokens = x.tokens
        var firstPanel: [Int] = [0]
        for product in products {
            precondition(x.blocks == product.matrix.blocks, "activations have \(x.blocks * 32) columns, the matrix \(product.matrix.columns)")
            precondition(product.matrix.type != .q8_0 || x.maximum <= QuantizedActivations.q8Limit,
                         "Q8_0 weights need activations quantized to ±\(QuantizedActivations.q8Limit)")
            firstPanel.append(firstPanel.last! + product.matrix.panels)
        }
        let activations = Activations(pairs: x.pairs, scales: x.scales, sums: x.sums, blocks: x.blocks)
        parallelChunks(firstPanel.last!, minimumPerChunk: tokens >= 4 ? 2 : 8) { range in
            for (index, product) in products.enumerated() {
                let own = max(range.lowerBound, firstPanel[index]) ..< min(range.upperBound, firstPanel[index + 1])
                guard !own.isEmpty else { continue }
                let panels = (own.lowerBound - firstPanel[index]) ..< (own.upperBound - firstPanel[index])
                product.matrix.run(panels: panels, tokens: tokens, activations, product.output, product.bias)
            }
        }
    }

    /// Panels `panels` for every token, tile by tile: a tile of panels stays in cache while the tokens stream past.
    @inline(__always)
    private func run(panels: Range<Int>, tokens: Int, _ x: Activations, _ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?) {
        var tileStart = panels.lowerBound
        while tileStart < panels.upperBound {
            let tile = tileStart ..< min(tileStart + Self.panelsPerTile, panels.upperBound)
            var t = 0
            while t + 4 <= tokens {
                for panel in tile { run4(panel: panel, token: t, x, y, bias) }
                t += 4
            }
            while t < tokens {
                for panel in tile { run1(panel: panel, token: t, x, y, bias) }
                t += 1
            }
            tileStart = tile.upperBound
        }
    }

    /// Pointers into a `QuantizedActivations`, for the worker closure.
    struct Activations {
        let pairs: UnsafePointer<UInt32>
        let scales: UnsafePointer<Float>
        let sums: UnsafePointer<Float>
        let blocks: Int
        @inline(__always) func pairs(token: Int, block: Int) -> UnsafePointer<UInt32> { pairs + (token * blocks + block) * 16 }
        @inline(__always) func scale(token: Int, block: Int, half: Int) -> SIMD8<Float> {
            SIMD8(repeating: scales[2 * (token * blocks + block) + half])
        }
        @inline(__always) func sum(token: Int, block: Int) -> SIMD8<Float> { SIMD8(repeating: sums[token * blocks + block]) }
    }

    /// One token through one panel.
    @inline(__always)
    private func run1(panel: Int, token: Int, _ x: Activations, _ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?) {
        var acc = SIMD8<Float>()
        var source = UnsafeRawPointer(block(panel: panel, 0))
        for b in 0..<blocks {
            if type == .q8_0 {
                let (low, high) = Self.q8Dot(source + quantOffset, x.pairs(token: token, block: b))
                Self.scale(&acc, low, high, source, offset: .none, x, token: token, block: b)
            } else {
                let a = x.pairs(token: token, block: b)
                var low = SIMD16<Int16>(), high = SIMD16<Int16>()
                for g in 0..<4 {
                    let n = Self.nibbles(source + quantOffset, group: g)
                    low = low &+ Self.q4Low(n, a, group: g)
                    high = high &+ Self.q4High(n, a, group: g)
                }
                Self.scale(&acc, Self.pairSum(low), Self.pairSum(high), source, offset: offset, x, token: token, block: b)
            }
            source += blockStride
        }
        store(acc, panel: panel, token: token, y, bias)
    }

    /// Four tokens through one panel: the weights are unpacked once for all four; each token's lane sees exactly the
    /// operations `run1` would do.
    @inline(__always)
    private func run4(panel: Int, token t: Int, _ x: Activations, _ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?) {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        var source = UnsafeRawPointer(block(panel: panel, 0))
        for b in 0..<blocks {
            if type == .q8_0 {
                let (l0, h0) = Self.q8Dot(source + quantOffset, x.pairs(token: t, block: b))
                Self.scale(&acc0, l0, h0, source, offset: .none, x, token: t, block: b)
                let (l1, h1) = Self.q8Dot(source + quantOffset, x.pairs(token: t + 1, block: b))
                Self.scale(&acc1, l1, h1, source, offset: .none, x, token: t + 1, block: b)
                let (l2, h2) = Self.q8Dot(source + quantOffset, x.pairs(token: t + 2, block: b))
                Self.scale(&acc2, l2, h2, source, offset: .none, x, token: t + 2, block: b)
                let (l3, h3) = Self.q8Dot(source + quantOffset, x.pairs(token: t + 3, block: b))
                Self.scale(&acc3, l3, h3, source, offset: .none, x, token: t + 3, block: b)
            } else {
                let a0 = x.pairs(token: t, block: b), a1 = x.pairs(token: t + 1, block: b)
                let a2 = x.pairs(token: t + 2, block: b), a3 = x.pairs(token: t + 3, block: b)
                var l0 = SIMD16<Int16>(), l1 = SIMD16<Int16>(), l2 = SIMD16<Int16>(), l3 = SIMD16<Int16>()
                var h0 = SIMD16<Int16>(), h1 = SIMD16<Int16>(), h2 = SIMD16<Int16>(), h3 = SIMD16<Int16>()
                for g in 0..<4 {
                    let n = Self.nibbles(source + quantOffset, group: g)
                    l0 = l0 &+ Self.q4Low(n, a0, group: g)
                    h0 = h0 &+ Self.q4High(n, a0, group: g)
                    l1 = l1 &+ Self.q4Low(n, a1, group: g)
                    h1 = h1 &+ Self.q4High(n, a1, group: g)
                    l2 = l2 &+ Self.q4Low(n, a2, group: g)
                    h2 = h2 &+ Self.q4High(n, a2, group: g)
                    l3 = l3 &+ Self.q4Low(n, a3, group: g)
                    h3 = h3 &+ Self.q4High(n, a3, group: g)
                }
                Self.scale(&acc0, Self.pairSum(l0), Self.pairSum(h0), source, offset: offset, x, token: t, block: b)
                Self.scale(&acc1, Self.pairSum(l1), Self.pairSum(h1), source, offset: offset, x, token: t + 1, block: b)
                Self.scale(&acc2, Self.pairSum(l2), Self.pairSum(h2), source, offset: offset, x, token: t + 2, block: b)
                Self.scale(&acc3, Self.pairSum(l3), Self.pairSum(h3), source, offset: offset, x, token: t + 3, block: b)
            }
            source += blockStride
        }
        store(acc0, panel: panel, token: t, y, bias)
        store(acc1, panel: panel, token: t + 1, y, bias)
        store(acc2, panel: panel, token: t + 2, y, bias)
        store(acc3, panel: panel, token: t + 3, y, bias)
    }

    /// How a block's weights are offset: `w = d·q + m` with `m` stored (Q4_1), `m = -8·d` (Q4_0), or no offset (Q8_0).
    enum Offset { case none, minusEightD, stored }

    var offset: Offset {
        switch type {
        case .q4_1: return .stored
        case .q4_0: return .minusEightD
        default: return .none
        }
    }

    /// Adds one block's integer sums (per half-block, one lane per row) for one token to `acc`, scaled: the one float
    /// epilogue every path shares, so a (row, token) result never depends on the kernel variant.
    @inline(__always)
    static func scale(_ acc: inout SIMD8<Float>, _ low: SIMD8<Int32>, _ high: SIMD8<Int32>, _ source: UnsafeRawPointer,
                      offset: Offset, _ x: Activations, token: Int, block: Int) {
        let d = SIMD8<Float>(source.loadUnaligned(as: SIMD8<Float16>.self))  // vcvtph2ps
        acc.addProduct(SIMD8<Float>(low), d * x.scale(token: token, block: block, half: 0))
        acc.addProduct(SIMD8<Float>(high), d * x.scale(token: token, block: block, half: 1))
        switch offset {
        case .none: break
        case .minusEightD: acc.addProduct(d * SIMD8(repeating: -8), x.sum(token: token, block: block))
        case .stored: acc.addProduct(SIMD8<Float>(source.loadUnaligned(fromByteOffset: 16, as: SIMD8<Float16>.self)), x.sum(token: token, block: block))
        }
    }

    /// The nibbles of group `g` of a Q4 panel block as four vectors: columns `(4g, 4g+2)` of every row, then
    /// `(16+4g, 18+4g)`, `(4g+1, 4g+3)` and `(17+4g, 19+4g)`, matching activation pairs `4g ..< 4g+4`.
    typealias Nibbles = (SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>)

    @inline(__always)
    static func nibbles(_ quants: UnsafeRawPointer, group g: Int) -> Nibbles {
        let mask = SIMD16<UInt16>(repeating: 0x0F)
        let v = quants.loadUnaligned(fromByteOffset: 32 * g, as: SIMD16<UInt16>.self)
        return (unsafeBitCast(v & mask, to: SIMD16<Int16>.self), unsafeBitCast((v &>> 4) & mask, to: SIMD16<Int16>.self),
                unsafeBitCast((v &>> 8) & mask, to: SIMD16<Int16>.self), unsafeBitCast(v &>> 12, to: SIMD16<Int16>.self))
    }

    /// Σ nibble · activation over group `g`'s columns in the low half-block (0–15), in 16-bit lanes (row `r` =
    /// lanes `2r` and `2r+1`).
    @inline(__always)
    static func q4Low(_ n: Nibbles, _ a: UnsafePointer<UInt32>, group g: Int) -> SIMD16<Int16> {
        n.0 &* broadcast(a[4 * g]) &+ n.2 &* broadcast(a[4 * g + 2])
    }

    /// The same over group `g`'s columns in the high half-block (16–31).
    @inline(__always)
    static func q4High(_ n: Nibbles, _ a: UnsafePointer<UInt32>, group g: Int) -> SIMD16<Int16> {
        n.1 &* broadcast(a[4 * g + 1]) &+ n.3 &* broadcast(a[4 * g + 3])
    }

    /// Σ quant · activation over a Q8 block's half-blocks, one 32-bit lane per row. With activations within ±127,
    /// two products of an 8-bit weight and an activation fit a 16-bit lane; each pair is then widened.
    @inline(__always)
    static func q8Dot(_ quants: UnsafeRawPointer, _ a: UnsafePointer<UInt32>) -> (SIMD8<Int32>, SIMD8<Int32>) {
        var low = SIMD8<Int32>(), high = SIMD8<Int32>()
        for g in 0..<4 {
            let first = quants.loadUnaligned(fromByteOffset: 64 * g, as: SIMD16<Int16>.self)
            let second = quants.loadUnaligned(fromByteOffset: 64 * g + 32, as: SIMD16<Int16>.self)
            low = low &+ pairSum(((first &<< 8) &>> 8) &* broadcast(a[4 * g]) &+ (first &>> 8) &* broadcast(a[4 * g + 2]))
            high = high &+ pairSum(((second &<< 8) &>> 8) &* broadcast(a[4 * g + 1]) &+ (second &>> 8) &* broadcast(a[4 * g + 3]))
        }
        return (low, high)
    }

    /// A pair of Int16 quants in every 32-bit lane (`vpbroadcastd`).
    @inline(__always)
    static func broadcast(_ pair: UInt32) -> SIMD16<Int16> {
        unsafeBitCast(SIMD8<UInt32>(repeating: pair), to: SIMD16<Int16>.self)
    }

    /// Lanes `2r` and `2r+1` added into 32-bit lane `r`.
    @inline(__always)
    static func pairSum(_ v: SIMD16<Int16>) -> SIMD8<Int32> {
        let s = unsafeBitCast(v, to: SIMD8<Int32>.self)
        return ((s &<< 16) &>> 16) &+ (s &>> 16)
    }

    @inline(__always)
    private func store(_ acc: SIMD8<Float>, panel: Int, token: Int, _ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?) {
        let row = 8 * panel, out = y + token * rows + row
        if row + 8 <= rows {
            let value = bias.map { acc + UnsafeRawPointer($0 + row).loadUnaligned(as: SIMD8<Float>.self) } ?? acc
            UnsafeMutableRawPointer(out).storeBytes(of: value, as: SIMD8<Float>.self)
        } else {
            for lane in 0..<(rows - row) { out[lane] = bias.map { acc[lane] + $0[row + lane] } ?? acc[lane] }
        }
    }
}

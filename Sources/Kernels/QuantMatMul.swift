import CKernels

/// Integer matrix multiplication on packed quantized weights: `y[t, r] = Σ_k W[r, k] · x[t, k] (+ bias[r])` with the
/// activations quantized per group of 8 columns (`QuantizedActivations`).
///
/// One SIMD lane per weight row, eight rows per pass. Per group of 8 columns, the products of 4-bit weight quants and
/// 10-bit activation quants are summed exactly in 16-bit lanes (`vpmullw`/`vpaddw`; at most 4 products of 15 · 511
/// per lane, so nothing overflows; for Q8 weights, activations stay within ±127 and pairs of products are widened),
/// widened to 32 bits and converted to float once, then scaled: per block `acc += d_w · Σ_groups (Σq·a) · d_x`, and
/// for Q4 `acc += m_w · Σx`.
///
/// Every (row, token) output is one accumulator lane with the same sequence of operations, whatever the number of
/// tokens, the token tile a token lands in, or the thread that computes its panel: results are batch- and
/// thread-invariant bit for bit.
///
/// These Swift kernels (Q4_0, Q4_1, Q8_0) are the reference and the `KernelPath.swift` fallback; by default the C
/// kernels of `CKernels` (`vpmaddwd`, `vpdpwssd`) run every encoding with the same integer sums and epilogue.
extension PackedMatrix {
    /// Whether the Swift kernels handle `type` (the C kernels handle every packable type).
    static func hasSwiftKernel(_ type: TensorType) -> Bool { [.q4_0, .q4_1, .q8_0].contains(type) }

    /// Rows of 8-row panels a thread keeps hot while every token tile streams past them (41–45 KiB of Q4 weights
    /// for 576 columns: 16 panels × 18 blocks × 144–160 bytes).
    static let panelsPerTile = 16

    /// `y[t, r] = Σ_k W[r, k] · x[t, k] (+ bias[r])` for every token of `x`; `y` is `x.tokens × rows`, row-major.
    /// - Parameter path: the implementation (`KernelPath.selected` unless a test picks one).
    public func multiply(_ x: QuantizedActivations, into y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil,
                         path: KernelPath = .selected) {
        Self.multiply([(self, y, bias)], x, path: path)
    }

    /// Several matrices times the same activations (Q, K and V of a layer; gate and up) as one parallel job: the
    /// threads split the panels of all of them, so they meet once instead of once per matrix.
    public static func multiply(_ products: [(matrix: PackedMatrix, output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?)],
                                _ x: QuantizedActivations, path: KernelPath = .selected) {
        let tokens = x.tokens
        var firstPanel: [Int] = [0]
        for product in products {
            precondition(x.blocks == product.matrix.blocks, "activations have \(x.blocks * 32) columns, the matrix \(product.matrix.columns)")
            precondition(x.maximum <= product.matrix.activationLimit,
                         "\(product.matrix.type) weights need activations quantized to ±\(product.matrix.activationLimit)")
            firstPanel.append(firstPanel.last! + product.matrix.panels)
        }
        let activations = Activations(pairs: x.pairs, scales: x.scales, sums: x.sums, blocks: x.blocks)
        var c = bk_activations(pairs: x.pairs, scales: x.scales, sums: x.sums, sums16: x.sums16, blocks: x.blocks)
        parallelChunks(firstPanel.last!, minimumPerChunk: tokens >= 4 ? 2 : 8) { range in
            for (index, product) in products.enumerated() {
                let own = max(range.lowerBound, firstPanel[index]) ..< min(range.upperBound, firstPanel[index + 1])
                guard !own.isEmpty else { continue }
                let panels = (own.lowerBound - firstPanel[index]) ..< (own.upperBound - firstPanel[index])
                let matrix = product.matrix
                if let level = path.level(for: matrix.type) {
                    var m = bk_matrix(type: Int32(matrix.type.rawValue), base: UnsafePointer(matrix.base.assumingMemoryBound(to: UInt8.self)),
                                      rows: matrix.rows, superblocks: matrix.superblocks, stride: matrix.blockStride)
                    bk_multiply(level, &m, &c, panels.lowerBound, panels.upperBound, tokens, product.output, product.bias)
                } else {
                    matrix.run(panels: panels, tokens: tokens, activations, product.output, product.bias)
                }
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
        @inline(__always) func scale(token: Int, block: Int, group: Int) -> SIMD8<Float> {
            SIMD8(repeating: scales[4 * (token * blocks + block) + group])
        }
        @inline(__always) func sum(token: Int, block: Int) -> SIMD8<Float> { SIMD8(repeating: sums[token * blocks + block]) }
    }

    /// One token through one panel.
    @inline(__always)
    private func run1(panel: Int, token: Int, _ x: Activations, _ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?) {
        var acc = SIMD8<Float>()
        var source = UnsafeRawPointer(block(panel: panel, 0))
        for b in 0..<blocks {
            let d = Self.scales(source), quants = source + quantOffset, a = x.pairs(token: token, block: b)
            var sum = SIMD8<Float>()
            for j in 0..<2 {
                if type == .q8_0 {
                    let (low, high) = Self.q8Dot(quants, a, part: j)
                    Self.scale(&sum, low, high, x, token: token, block: b, part: j)
                } else {
                    var low = SIMD16<Int16>(), high = SIMD16<Int16>()
                    for g in 2 * j ..< 2 * j + 2 {
                        let n = Self.nibbles(quants, group: g)
                        low = low &+ Self.q4Low(n, a, group: g)
                        high = high &+ Self.q4High(n, a, group: g)
                    }
                    Self.scale(&sum, Self.pairSum(low), Self.pairSum(high), x, token: token, block: b, part: j)
                }
            }
            acc.addProduct(sum, d)
            addOffset(&acc, source, d, x, token: token, block: b)
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
            let d = Self.scales(source), quants = source + quantOffset
            let a0 = x.pairs(token: t, block: b), a1 = x.pairs(token: t + 1, block: b)
            let a2 = x.pairs(token: t + 2, block: b), a3 = x.pairs(token: t + 3, block: b)
            var sum0 = SIMD8<Float>(), sum1 = SIMD8<Float>(), sum2 = SIMD8<Float>(), sum3 = SIMD8<Float>()
            for j in 0..<2 {
                if type == .q8_0 {
                    let (l0, h0) = Self.q8Dot(quants, a0, part: j)
                    Self.scale(&sum0, l0, h0, x, token: t, block: b, part: j)
                    let (l1, h1) = Self.q8Dot(quants, a1, part: j)
                    Self.scale(&sum1, l1, h1, x, token: t + 1, block: b, part: j)
                    let (l2, h2) = Self.q8Dot(quants, a2, part: j)
                    Self.scale(&sum2, l2, h2, x, token: t + 2, block: b, part: j)
                    let (l3, h3) = Self.q8Dot(quants, a3, part: j)
                    Self.scale(&sum3, l3, h3, x, token: t + 3, block: b, part: j)
                } else {
                    // Low nibbles (group j), then high nibbles (group 2+j): half the 16-bit accumulators live at once.
                    @inline(__always) func pass(high: Bool, group: Int) {
                        let (s0, s1, s2, s3) = Self.q4Sums(quants, (a0, a1, a2, a3), part: j, high: high)
                        Self.scale(&sum0, s0, x, token: t, block: b, group: group)
                        Self.scale(&sum1, s1, x, token: t + 1, block: b, group: group)
                        Self.scale(&sum2, s2, x, token: t + 2, block: b, group: group)
                        Self.scale(&sum3, s3, x, token: t + 3, block: b, group: group)
                    }
                    pass(high: false, group: j)
                    pass(high: true, group: 2 + j)
                }
            }
            acc0.addProduct(sum0, d)
            acc1.addProduct(sum1, d)
            acc2.addProduct(sum2, d)
            acc3.addProduct(sum3, d)
            addOffset(&acc0, source, d, x, token: t, block: b)
            addOffset(&acc1, source, d, x, token: t + 1, block: b)
            addOffset(&acc2, source, d, x, token: t + 2, block: b)
            addOffset(&acc3, source, d, x, token: t + 3, block: b)
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

    /// The 8 rows' f16 block scales `d` (`vcvtph2ps`).
    @inline(__always)
    static func scales(_ source: UnsafeRawPointer) -> SIMD8<Float> { SIMD8<Float>(source.loadUnaligned(as: SIMD8<Float16>.self)) }

    /// Adds the integer sums of part `j` of a block for one token to the block's sum `sum`, times the activation
    /// scales: `low` covers columns `8j ..< 8j+8` (activation group `j`), `high` columns `16+8j ..< 24+8j` (group
    /// `2+j`). The caller then adds `sum · d` to the row's accumulator. Every kernel variant goes through this one
    /// float epilogue, in the same order, so a (row, token) result never depends on the variant.
    @inline(__always)
    static func scale(_ sum: inout SIMD8<Float>, _ low: SIMD8<Int32>, _ high: SIMD8<Int32>,
                      _ x: Activations, token: Int, block: Int, part j: Int) {
        scale(&sum, low, x, token: token, block: block, group: j)
        scale(&sum, high, x, token: token, block: block, group: 2 + j)
    }

    /// One group's share of `scale(_:_:_:_:token:block:part:)`.
    @inline(__always)
    static func scale(_ sum: inout SIMD8<Float>, _ integers: SIMD8<Int32>, _ x: Activations, token: Int, block: Int, group: Int) {
        sum.addProduct(SIMD8<Float>(integers), x.scale(token: token, block: block, group: group))
    }

    /// Adds the block's offset term `m · Σx` (Q4_1: stored `m`; Q4_0: `m = -8·d`; Q8_0: none).
    @inline(__always)
    func addOffset(_ acc: inout SIMD8<Float>, _ source: UnsafeRawPointer, _ d: SIMD8<Float>, _ x: Activations, token: Int, block: Int) {
        switch offset {
        case .none: break
        case .minusEightD: acc.addProduct(d * SIMD8(repeating: -8), x.sum(token: token, block: block))
        case .stored: acc.addProduct(SIMD8<Float>(source.loadUnaligned(fromByteOffset: 16, as: SIMD8<Float16>.self)), x.sum(token: token, block: block))
        }
    }

    /// Four tokens' integer sums over part `j` of a Q4 block: its low-nibble columns (`8j ..< 8j+8`) or its high-nibble
    /// ones (`16+8j ..< 24+8j`), each panel group unpacked once for the four.
    @inline(__always)
    static func q4Sums(_ quants: UnsafeRawPointer, _ a: (UnsafePointer<UInt32>, UnsafePointer<UInt32>, UnsafePointer<UInt32>, UnsafePointer<UInt32>),
                       part j: Int, high: Bool) -> (SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>) {
        var s0 = SIMD16<Int16>(), s1 = SIMD16<Int16>(), s2 = SIMD16<Int16>(), s3 = SIMD16<Int16>()
        for g in 2 * j ..< 2 * j + 2 {
            let n = nibbles(quants, group: g)
            if high {
                s0 = s0 &+ q4High(n, a.0, group: g)
                s1 = s1 &+ q4High(n, a.1, group: g)
                s2 = s2 &+ q4High(n, a.2, group: g)
                s3 = s3 &+ q4High(n, a.3, group: g)
            } else {
                s0 = s0 &+ q4Low(n, a.0, group: g)
                s1 = s1 &+ q4Low(n, a.1, group: g)
                s2 = s2 &+ q4Low(n, a.2, group: g)
                s3 = s3 &+ q4Low(n, a.3, group: g)
            }
        }
        return (pairSum(s0), pairSum(s1), pairSum(s2), pairSum(s3))
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

    /// Σ nibble · activation over group `g`'s low-nibble columns (`4g ..< 4g+4`), in 16-bit lanes (row `r` =
    /// lanes `2r` and `2r+1`).
    @inline(__always)
    static func q4Low(_ n: Nibbles, _ a: UnsafePointer<UInt32>, group g: Int) -> SIMD16<Int16> {
        n.0 &* broadcast(a[4 * g]) &+ n.2 &* broadcast(a[4 * g + 2])
    }

    /// The same over group `g`'s high-nibble columns (`16+4g ..< 20+4g`).
    @inline(__always)
    static func q4High(_ n: Nibbles, _ a: UnsafePointer<UInt32>, group g: Int) -> SIMD16<Int16> {
        n.1 &* broadcast(a[4 * g + 1]) &+ n.3 &* broadcast(a[4 * g + 3])
    }

    /// Σ quant · activation over part `j` of a Q8 block (columns `8j ..< 8j+8` and `16+8j ..< 24+8j`), one 32-bit
    /// lane per row. With activations within ±127, two products of an 8-bit weight and an activation fit a 16-bit
    /// lane; each pair is then widened.
    @inline(__always)
    static func q8Dot(_ quants: UnsafeRawPointer, _ a: UnsafePointer<UInt32>, part j: Int) -> (SIMD8<Int32>, SIMD8<Int32>) {
        var low = SIMD8<Int32>(), high = SIMD8<Int32>()
        for g in 2 * j ..< 2 * j + 2 {
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

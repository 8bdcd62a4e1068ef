/// Activations (`tokens × columns` floats) quantized to 10-bit integers per group of 8 columns, for the integer kernels
/// of `PackedMatrix`: `x ≈ scale · q` with `q ∈ [-511, 511]`, `scale = max|x| / 511` (f32), plus each 32-column
/// block's f32 sum of the unquantized values `Σx` (the Q4 offset term `m · Σx` then carries no quantization
/// error), and the same sum over each half block (Q2_K's mins apply per 16 columns). Q8_0 weights take
/// `q ∈ [-127, 127]` instead (`q8Limit`).
///
/// The fine grain and the extra bits buy accuracy on SmolLM2 (mean KL to f32 on the golden prompts): llama.cpp's
/// 8-bit, 32-column activations give 0.0155 and 93.6 % top-1 agreement (over the 0.01 bound); 9 bits per 16 columns
/// 0.0025 and 97 %, yet flipped the near-tie answer of the CLI's France chat; 10 bits per 8 columns give 0.0005 and
/// 100 %, for ≈ 15 % of prefill speed.
///
/// Each token is quantized on its own, so a token's values never depend on its batch-mates.
///
/// The quants are stored as 16-bit pairs in the order the kernels consume them: pair `4g+0` of a block is columns
/// `(4g, 4g+2)`, `4g+1` is `(16+4g, 18+4g)`, `4g+2` is `(4g+1, 4g+3)`, `4g+3` is `(17+4g, 19+4g)`, low half first.
/// Broadcast to all lanes, a pair multiplies the matching nibbles (or bytes) of 8 packed rows at once.
public final class QuantizedActivations {
    public let tokens: Int
    public let blocks: Int
    /// `[token][block][16]` pairs of Int16 quants.
    let pairs: UnsafeMutablePointer<UInt32>
    /// `[token][block][group]` scales (columns 0–7, 8–15, 16–23, 24–31).
    let scales: UnsafeMutablePointer<Float>
    /// `[token][block]` sums of the unquantized values.
    let sums: UnsafeMutablePointer<Float>
    /// `[token][block][half]` sums of the unquantized values over columns `0 ..< 16` and `16 ..< 32`.
    let sums16: UnsafeMutablePointer<Float>

    /// Quantizes `tokens` rows of `columns` floats (a multiple of 32) from `x`.
    /// - Parameter maximum: the largest quant magnitude, `limit` (default) or `q8Limit` (required by Q8_0 weights).
    public init(_ x: UnsafePointer<Float>, tokens: Int, columns: Int, maximum: Float = limit) {
        precondition(columns % 32 == 0, "activations are quantized in blocks of 32 columns")
        precondition(maximum > 0 && maximum <= Self.limit, "quants must stay within ±\(Self.limit)")
        self.maximum = maximum
        self.tokens = tokens
        blocks = columns / 32
        pairs = .allocate(capacity: max(1, tokens * blocks * 16))
        scales = .allocate(capacity: max(1, tokens * blocks * 4))
        sums = .allocate(capacity: max(1, tokens * blocks))
        sums16 = .allocate(capacity: max(1, tokens * blocks * 2))
        for i in 0..<tokens * blocks { quantizeBlock(i, x + 32 * i) }
    }

    deinit {
        pairs.deallocate()
        scales.deallocate()
        sums.deallocate()
        sums16.deallocate()
    }

    /// The integer quant of column `column` of token `token` (for references in tests).
    public func quant(token: Int, column: Int) -> Int16 {
        let index = token * blocks + column / 32
        let pair = Self.pairColumns.firstIndex { $0.0 == column % 32 || $0.1 == column % 32 }!
        let bits = pairs[16 * index + pair] >> (Self.pairColumns[pair].0 == column % 32 ? 0 : 16)
        return Int16(bitPattern: UInt16(truncatingIfNeeded: bits))
    }

    /// The scale of group `group` (columns `8·group ..< 8·group + 8`) of block `block` of token `token`.
    public func scale(token: Int, block: Int, group: Int) -> Float { scales[4 * (token * blocks + block) + group] }

    /// The sum of the unquantized values of block `block` of token `token`: all 32 columns (`half` nil), or
    /// columns `16·half ..< 16·half + 16`.
    public func sum(token: Int, block: Int, half: Int? = nil) -> Float {
        let index = token * blocks + block
        return half.map { sums16[2 * index + $0] } ?? sums[index]
    }

    /// Token `token`'s values as the kernels see them, `scale · q`, in column order (for tests and error bounds).
    public func dequantized(token: Int) -> [Float] {
        var values = [Float](repeating: 0, count: 32 * blocks)
        for b in 0..<blocks {
            let index = token * blocks + b
            for (i, (low, high)) in Self.pairColumns.enumerated() {
                let pair = pairs[16 * index + i], scale = scales[4 * index + low / 8]
                values[32 * b + low] = scale * Float(Int16(bitPattern: UInt16(truncatingIfNeeded: pair)))
                values[32 * b + high] = scale * Float(Int16(bitPattern: UInt16(truncatingIfNeeded: pair >> 16)))
            }
        }
        return values
    }

    /// The largest quant magnitude for 4-bit weights: 10-bit quants still let the kernels sum a group's 4-bit
    /// products (4 per lane, at most 4 · 15 · 511 = 30 660) in 16-bit lanes without overflow.
    public static let limit: Float = 511

    /// The largest quant magnitude for 8-bit weights: two products of 128 · 127 still fit a 16-bit lane, which halves
    /// the widening work of the Q8_0 kernel (1.6× faster on SmolLM2's output head, for a KL change of < 0.001).
    public static let q8Limit: Float = 127

    /// This quantization's largest quant magnitude (`limit` or `q8Limit`).
    public let maximum: Float

    /// Column of the low and high half of each pair within a block.
    private static let pairColumns: [(Int, Int)] = (0..<4).flatMap { (g: Int) -> [(Int, Int)] in
        let c = 4 * g
        return [(c, c + 2), (c + 16, c + 18), (c + 1, c + 3), (c + 17, c + 19)]
    }

    @inline(__always)
    private func quantizeBlock(_ index: Int, _ x: UnsafePointer<Float>) {
        let raw = UnsafeRawPointer(x)
        let low = raw.loadUnaligned(as: SIMD16<Float>.self), high = raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let sum = low + high
        sums[index] = (sum.lowHalf + sum.highHalf).sum()
        sums16[2 * index] = (low.lowHalf + low.highHalf).sum()
        sums16[2 * index + 1] = (high.lowHalf + high.highHalf).sum()
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: 32) { buffer in
            let q = buffer.baseAddress!
            scales[4 * index] = Self.quantize(low.lowHalf, maximum: maximum, into: q)
            scales[4 * index + 1] = Self.quantize(low.highHalf, maximum: maximum, into: q + 8)
            scales[4 * index + 2] = Self.quantize(high.lowHalf, maximum: maximum, into: q + 16)
            scales[4 * index + 3] = Self.quantize(high.highHalf, maximum: maximum, into: q + 24)
            let out = pairs + 16 * index
            @inline(__always) func pair(_ a: Int, _ b: Int) -> UInt32 {
                UInt32(UInt16(bitPattern: q[a])) | UInt32(UInt16(bitPattern: q[b])) << 16
            }
            for g in 0..<4 {
                let c = 4 * g
                out[c] = pair(c, c + 2)
                out[c + 1] = pair(c + 16, c + 18)
                out[c + 2] = pair(c + 1, c + 3)
                out[c + 3] = pair(c + 17, c + 19)
            }
        }
    }

    /// Quantizes 8 values to `round(v · maximum / max|v|)`, returning the scale `max|v| / maximum`. A NaN or infinite
    /// value gives quants 0 and a non-finite scale, so every output it feeds is NaN (where f32 could give ±∞): a
    /// broken activation is never silently a number.
    @inline(__always)
    private static func quantize(_ v: SIMD8<Float>, maximum: Float, into q: UnsafeMutablePointer<Int16>) -> Float {
        // Non-negative floats order like their bit patterns (NaN above infinity), so max|v| is an integer maximum.
        let m8 = unsafeBitCast(v, to: SIMD8<UInt32>.self) & SIMD8(repeating: 0x7FFF_FFFF)
        let m4 = m8.lowHalf.replacing(with: m8.highHalf, where: m8.highHalf .> m8.lowHalf)
        let m2 = m4.lowHalf.replacing(with: m4.highHalf, where: m4.highHalf .> m4.lowHalf)
        let magnitude = Float(bitPattern: Swift.max(m2[0], m2[1]))
        // (A group of denormals has an infinite inverse: quantized to 0, like an all-zero group.)
        var inverse = maximum / magnitude
        if !(magnitude > 0 && magnitude.isFinite && inverse.isFinite) { inverse = 0 }
        // Round to nearest even by adding 1.5·2^23: the integer lands in the low mantissa bits (|q| ≤ 511), so the
        // conversion is a subtraction (generic SIMD float → int conversions run element by element).
        let magic = SIMD8<Float>(repeating: 12_582_912)
        var t = v * inverse + magic
        t = t.replacing(with: magic, where: t .!= t)
        let q32 = unsafeBitCast(t, to: SIMD8<Int32>.self) &- SIMD8(repeating: 0x4B40_0000)
        UnsafeMutableRawPointer(q).storeBytes(of: SIMD8<Int16>(truncatingIfNeeded: q32), as: SIMD8<Int16>.self)
        return magnitude / maximum
    }
}


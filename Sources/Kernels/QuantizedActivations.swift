/// Activations (`tokens × columns` floats) quantized to 9-bit integers per half-block of 16 columns, for the integer
/// kernels of `PackedMatrix`: `x ≈ scale · q` with `q ∈ [-255, 255]`, `scale = max|x| / 255` (f32), plus each
/// 32-column block's exact f32 sum `Σx` (the Q4 offset term `m · Σx` then carries no activation rounding).
///
/// The finer grain and the extra bit are what it takes to stay within the accuracy bound on SmolLM2 (mean KL to f32
/// ≤ 0.01): llama.cpp's 8-bit, 32-column activations give KL 0.0155 and 93.6 % top-1 agreement there.
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
    /// `[token][block][half]` scales (columns 0–15, then 16–31).
    let scales: UnsafeMutablePointer<Float>
    /// `[token][block]` sums of the unquantized values.
    let sums: UnsafeMutablePointer<Float>

    /// Quantizes `tokens` rows of `columns` floats (a multiple of 32) from `x`.
    public init(_ x: UnsafePointer<Float>, tokens: Int, columns: Int) {
        precondition(columns % 32 == 0, "activations are quantized in blocks of 32 columns")
        self.tokens = tokens
        blocks = columns / 32
        pairs = .allocate(capacity: max(1, tokens * blocks * 16))
        scales = .allocate(capacity: max(1, tokens * blocks * 2))
        sums = .allocate(capacity: max(1, tokens * blocks))
        for i in 0..<tokens * blocks { quantizeBlock(i, x + 32 * i) }
    }

    deinit {
        pairs.deallocate()
        scales.deallocate()
        sums.deallocate()
    }

    /// Token `token`'s values as the kernels see them, `scale · q`, in column order (for tests and error bounds).
    public func dequantized(token: Int) -> [Float] {
        var values = [Float](repeating: 0, count: 32 * blocks)
        for b in 0..<blocks {
            let index = token * blocks + b
            for (i, (low, high)) in Self.pairColumns.enumerated() {
                let pair = pairs[16 * index + i], scale = scales[2 * index + low / 16]
                values[32 * b + low] = scale * Float(Int16(bitPattern: UInt16(truncatingIfNeeded: pair)))
                values[32 * b + high] = scale * Float(Int16(bitPattern: UInt16(truncatingIfNeeded: pair >> 16)))
            }
        }
        return values
    }

    /// The largest quant magnitude: 9-bit quants still let the kernels sum a half-block of 4-bit products (8 per
    /// lane, at most 8 · 15 · 255 = 30 600) in 16-bit lanes without overflow.
    public static let limit: Float = 255

    /// Column of the low and high half of each pair within a block.
    private static let pairColumns: [(Int, Int)] = (0..<4).flatMap { (g: Int) -> [(Int, Int)] in
        let c = 4 * g
        return [(c, c + 2), (c + 16, c + 18), (c + 1, c + 3), (c + 17, c + 19)]
    }

    @inline(__always)
    private func quantizeBlock(_ index: Int, _ x: UnsafePointer<Float>) {
        let raw = UnsafeRawPointer(x)
        let v0 = raw.loadUnaligned(as: SIMD8<Float>.self), v1 = raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let v2 = raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self), v3 = raw.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        sums[index] = ((v0 + v1) + (v2 + v3)).sum()
        // A NaN or infinite input gives quants 0 and a non-finite scale, so the outputs it feeds are NaN, as in f32.
        let low = pointwiseMax(abs(v0), abs(v1)).max(), high = pointwiseMax(abs(v2), abs(v3)).max()
        let inverseLow: Float = low > 0 && low.isFinite ? Self.limit / low : 0
        let inverseHigh: Float = high > 0 && high.isFinite ? Self.limit / high : 0
        scales[2 * index] = low / Self.limit
        scales[2 * index + 1] = high / Self.limit
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: 32) { buffer in
            let q = buffer.baseAddress!
            func store(_ v: SIMD8<Float>, _ inverse: Float, at offset: Int) {
                let rounded = (v * inverse).rounded(.toNearestOrEven)
                for lane in 0..<8 { q[offset + lane] = rounded[lane].isNaN ? 0 : Int16(rounded[lane]) }
            }
            store(v0, inverseLow, at: 0)
            store(v1, inverseLow, at: 8)
            store(v2, inverseHigh, at: 16)
            store(v3, inverseHigh, at: 24)
            let out = pairs + 16 * index
            for (i, (low, high)) in Self.pairColumns.enumerated() {
                out[i] = UInt32(UInt16(bitPattern: q[low])) | UInt32(UInt16(bitPattern: q[high])) << 16
            }
        }
    }

    @inline(__always)
    private func abs(_ v: SIMD8<Float>) -> SIMD8<Float> {
        SIMD8(bitPattern: v.bitPattern & SIMD8(repeating: 0x7FFF_FFFF))
    }
}

extension SIMD8<Float> {
    @inline(__always)
    init(bitPattern: SIMD8<UInt32>) { self = unsafeBitCast(bitPattern, to: SIMD8<Float>.self) }
    @inline(__always)
    var bitPattern: SIMD8<UInt32> { unsafeBitCast(self, to: SIMD8<UInt32>.self) }
}

/// Reference dequantizers of the GGUF block encodings beyond Q4_0/Q4_1/Q8_0, one block at a time.
///
/// Each one reproduces `gguf.quants.dequantize` (gguf-py) bit for bit: f16 fields are widened to f32 first, every
/// product and difference is a separate f32 operation in the order numpy evaluates it (`(d · sc) · q − dmin · m`, no
/// fused multiply-add), and integer offsets are applied before the conversion to f32. The layouts below are the
/// reference the integer kernels are written against; offsets are in bytes from the start of the block, multi-byte
/// fields are little-endian, `f16` is an IEEE half. "Element" is the position in the dequantized block.
enum BlockDequantizer {
    /// Loads the f16 at `offset` bytes and widens it to f32 (exact).
    @inline(__always)
    static func half(_ block: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: (block + offset).loadUnaligned(as: UInt16.self)))
    }

    /// IQ4_NL/IQ4_XS's non-linear 4-bit codebook: a quant `q` stands for `kvalues[q]`, then times the block scale.
    static let kvalues: SIMD16<Float> = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    // MARK: 32-element blocks

    /// Q5_0, 22 bytes per 32 elements: `d: f16` @0, `qh: UInt32` @2 (bit `i` is element `i`'s fifth bit),
    /// `qs[16]` @6 (byte `j`: low nibble element `j`, high nibble element `j + 16`).
    /// Element `i` = `d · Float(q − 16)` with `q = nibble | bit << 4`.
    @inline(__always)
    static func q5_0(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        let qh = (block + 2).loadUnaligned(as: UInt32.self)
        let qs = (block + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let low = Int32(qs[j] & 0x0F) | Int32((qh >> UInt32(j)) & 1) << 4
            let high = Int32(qs[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
            out[j] = d * Float(low - 16)
            out[j + 16] = d * Float(high - 16)
        }
    }

    /// Q5_1, 24 bytes per 32 elements: `d: f16` @0, `m: f16` @2, `qh: UInt32` @4, `qs[16]` @8 (as Q5_0).
    /// Element `i` = `d · Float(q) + m` with `q = nibble | bit << 4` in 0...31.
    @inline(__always)
    static func q5_1(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        let m = half(block, 2)
        let qh = (block + 4).loadUnaligned(as: UInt32.self)
        let qs = (block + 8).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let low = UInt32(qs[j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
            let high = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
            let a = d * Float(low)
            let b = d * Float(high)
            out[j] = a + m
            out[j + 16] = b + m
        }
    }

    /// IQ4_NL, 18 bytes per 32 elements: `d: f16` @0, `qs[16]` @2 (byte `j`: low nibble element `j`, high nibble
    /// element `j + 16`). Element `i` = `d · kvalues[q]`.
    @inline(__always)
    static func iq4_nl(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
        let k = kvalues
        for j in 0..<16 {
            out[j] = d * k[Int(qs[j] & 0x0F)]
            out[j + 16] = d * k[Int(qs[j] >> 4)]
        }
    }

    // MARK: 256-element super-blocks (K-quants and IQ4_XS)

    /// Q2_K, 84 bytes per 256 elements in 16 sub-blocks of 16: `scales[16]` @0 (sub-block `s`: low nibble scale,
    /// high nibble min), `qs[64]` @16, `d: f16` @80, `dmin: f16` @82. Element `e = 128h + 32t + l` (h < 2, t < 4,
    /// l < 32) is the 2 bits `qs[32h + l] >> 2t`; it lies in sub-block `e / 16`.
    /// Element = `(d · Float(scale)) · Float(q) − dmin · Float(min)`.
    static func q2_K(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let scales = block.assumingMemoryBound(to: UInt8.self)
        let qs = (block + 16).assumingMemoryBound(to: UInt8.self)
        let d = half(block, 80), dmin = half(block, 82)
        for h in 0..<2 {
            for t in 0..<4 {
                for part in 0..<2 {
                    let e0 = 128 * h + 32 * t + 16 * part
                    let sc = scales[e0 / 16]
                    let dl = d * Float(sc & 0x0F)
                    let ml = dmin * Float(sc >> 4)
                    for l in (16 * part)..<(16 * part + 16) {
                        let q = (qs[32 * h + l] >> UInt8(2 * t)) & 3
                        let p = dl * Float(q)
                        out[128 * h + 32 * t + l] = p - ml
                    }
                }
            }
        }
    }

    /// Q3_K, 110 bytes per 256 elements in 16 sub-blocks of 16: `hmask[32]` @0, `qs[64]` @32, `scales[12]` @96,
    /// `d: f16` @108. Element `e = 128h + 32t + l` has low bits `qs[32h + l] >> 2t & 3` and high bit
    /// `hmask[l] >> (e / 32) & 1`; `q = low − (high ? 0 : 4)` in −4...3. Sub-block `s`'s 6-bit scale is
    /// `scales[s % 8] >> 4(s / 8) & 0xF | (scales[8 + s % 4] >> 2(s / 4) & 3) << 4`, used as `scale − 32`.
    /// Element = `(d · Float(scale − 32)) · Float(q)`.
    static func q3_K(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let hmask = block.assumingMemoryBound(to: UInt8.self)
        let qs = (block + 32).assumingMemoryBound(to: UInt8.self)
        let scales = (block + 96).assumingMemoryBound(to: UInt8.self)
        let d = half(block, 108)
        var dl = SIMD16<Float>()
        for s in 0..<16 {
            let low = (scales[s % 8] >> UInt8(4 * (s / 8))) & 0x0F
            let high = (scales[8 + s % 4] >> UInt8(2 * (s / 4))) & 0x03
            dl[s] = d * Float(Int32(low | high << 4) - 32)
        }
        for e in 0..<256 {
            let h = e / 128, t = (e % 128) / 32, l = e % 32
            let low = Int32((qs[32 * h + l] >> UInt8(2 * t)) & 3)
            let high = (hmask[l] >> UInt8(e / 32)) & 1
            out[e] = dl[e / 16] * Float(low - (high == 0 ? 4 : 0))
        }
    }

    /// The 6-bit scale and min of sub-block `j` (< 8) in Q4_K/Q5_K's 12 packed bytes: for `j < 4`,
    /// `scale = s[j] & 63`, `min = s[j + 4] & 63`; for `j ≥ 4`, `scale = s[j + 4] & 0xF | (s[j − 4] >> 6) << 4` and
    /// `min = s[j + 4] >> 4 | (s[j] >> 6) << 4`.
    @inline(__always)
    static func kScaleMin(_ s: UnsafePointer<UInt8>, _ j: Int) -> (scale: UInt8, min: UInt8) {
        if j < 4 { return (s[j] & 0x3F, s[j + 4] & 0x3F) }
        return ((s[j + 4] & 0x0F) | ((s[j - 4] >> 2) & 0x30), (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30))
    }

    /// Q4_K, 144 bytes per 256 elements in 8 sub-blocks of 32: `d: f16` @0, `dmin: f16` @2, `scales[12]` @4 (see
    /// `kScaleMin`), `qs[128]` @16. Element `e = 64c + 32s + l` (c < 4, s < 2, l < 32) is the nibble
    /// `qs[32c + l] >> 4s`; it lies in sub-block `j = 2c + s`.
    /// Element = `(d · Float(scale_j)) · Float(q) − dmin · Float(min_j)`.
    static func q4_K(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), dmin = half(block, 2)
        let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
        let qs = (block + 16).assumingMemoryBound(to: UInt8.self)
        for j in 0..<8 {
            let (sc, m) = kScaleMin(scales, j)
            let dl = d * Float(sc), ml = dmin * Float(m)
            let bytes = qs + 32 * (j / 2), shift = UInt8(4 * (j % 2))
            for l in 0..<32 {
                let p = dl * Float((bytes[l] >> shift) & 0x0F)
                out[32 * j + l] = p - ml
            }
        }
    }

    /// Q5_K, 176 bytes per 256 elements in 8 sub-blocks of 32: `d: f16` @0, `dmin: f16` @2, `scales[12]` @4 (see
    /// `kScaleMin`), `qh[32]` @16, `qs[128]` @48. Element `e = 32j + l` has its low nibble as in Q4_K and fifth bit
    /// `qh[l] >> j & 1`. Element = `(d · Float(scale_j)) · Float(q) − dmin · Float(min_j)`, `q` in 0...31.
    static func q5_K(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), dmin = half(block, 2)
        let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
        let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
        let qs = (block + 48).assumingMemoryBound(to: UInt8.self)
        for j in 0..<8 {
            let (sc, m) = kScaleMin(scales, j)
            let dl = d * Float(sc), ml = dmin * Float(m)
            let bytes = qs + 32 * (j / 2), shift = UInt8(4 * (j % 2))
            for l in 0..<32 {
                let q = ((bytes[l] >> shift) & 0x0F) | ((qh[l] >> UInt8(j)) & 1) << 4
                let p = dl * Float(q)
                out[32 * j + l] = p - ml
            }
        }
    }

    /// Q6_K, 210 bytes per 256 elements in 16 sub-blocks of 16: `ql[128]` @0, `qh[64]` @128, `scales: Int8[16]`
    /// @192, `d: f16` @208. Within half `h` (elements `128h ..< 128h + 128`), element `128h + r` takes the nibble
    /// `ql[64h + r % 64] >> 4(r / 64)` and the 2 bits `qh[32h + r % 32] >> 2(r / 32)` as bits 4-5.
    /// Element = `(d · Float(scales[e / 16])) · Float(q − 32)`.
    static func q6_K(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let ql = block.assumingMemoryBound(to: UInt8.self)
        let qh = (block + 128).assumingMemoryBound(to: UInt8.self)
        let scales = (block + 192).assumingMemoryBound(to: Int8.self)
        let d = half(block, 208)
        for s in 0..<16 {
            let dl = d * Float(scales[s])
            for e in (16 * s)..<(16 * s + 16) {
                let h = e / 128, r = e % 128
                let low = (ql[64 * h + r % 64] >> UInt8(4 * (r / 64))) & 0x0F
                let high = (qh[32 * h + r % 32] >> UInt8(2 * (r / 32))) & 0x03
                out[e] = dl * Float(Int32(low | high << 4) - 32)
            }
        }
    }

    /// IQ4_XS, 136 bytes per 256 elements in 8 sub-blocks of 32: `d: f16` @0, `scales_h: UInt16` @2 (2 bits per
    /// sub-block, `j` at bit `2j`), `scales_l[4]` @4 (sub-block `j`: nibble `scales_l[j / 2] >> 4(j % 2)`), `qs[128]`
    /// @8 (sub-block `j` uses `qs[16j ..< 16j + 16]`: byte `k` low nibble element `32j + k`, high nibble `32j + 16 + k`).
    /// Element = `(d · Float(scale_j − 32)) · kvalues[q]`, `scale_j = low | high << 4`.
    static func iq4_xs(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        let scalesH = (block + 2).loadUnaligned(as: UInt16.self)
        let scalesL = (block + 4).assumingMemoryBound(to: UInt8.self)
        let qs = (block + 8).assumingMemoryBound(to: UInt8.self)
        let k = kvalues
        for j in 0..<8 {
            let low = (scalesL[j / 2] >> UInt8(4 * (j % 2))) & 0x0F
            let high = UInt8(truncatingIfNeeded: scalesH >> UInt16(2 * j)) & 0x03
            let dl = d * Float(Int32(low | high << 4) - 32)
            let bytes = qs + 16 * j, o = out + 32 * j
            for l in 0..<16 {
                o[l] = dl * k[Int(bytes[l] & 0x0F)]
                o[l + 16] = dl * k[Int(bytes[l] >> 4)]
            }
        }
    }

    /// Runs `body` on each of the `count / type.blockElements` blocks of `type` at `source`, with the block's output.
    @inline(__always)
    static func eachBlock(
        _ type: TensorType, _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>,
        _ body: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void
    ) {
        let elements = type.blockElements, bytes = type.blockBytes
        for block in 0..<(count / elements) { body(source + block * bytes, destination + block * elements) }
    }
}

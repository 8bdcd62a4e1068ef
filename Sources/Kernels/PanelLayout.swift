import CKernels

/// Where the bytes of one row's GGUF block go in its lane of an 8-row panel block, for each packed encoding, and
/// back. The offsets inside a panel block come from the C kernels (`bk_panel_layout`), so packing and kernels share
/// one definition.
///
/// Every panel block holds the 8 rows' GGUF blocks rearranged: an 8-wide array per scalar field (f16 `d`, `m`/`dmin`
/// at `+2·lane`; a per-sub-block scale or min byte at `+8·sub + lane`) and the quants in groups of 32 bytes, where
/// 32-bit lane `r` holds 4 consecutive quant bytes of row `r`. So one 256-bit load gives 8 rows × 4 bytes, and shifts
/// and masks of its 16-bit lanes give 8 rows × 2 columns, the shape the kernels multiply by an activation pair.
/// Per encoding (file offsets in `Dequantize.swift` / `TensorType.swift`):
///
/// | type | panel block (8 rows) | epilogue per 32-column (sub-)block, groups `I_g` of 8 columns |
/// |---|---|---|
/// | Q4_0 | `d`, qs: 4 groups (byte `j`: columns `j`, `j+16`) | `S = Σ I_g·s_g`; `acc = fma(S, d)`; `acc = fma(−8d, Σx)` |
/// | Q4_1 | `d`, `m`, qs as Q4_0 | `acc = fma(S, d)`; `acc = fma(m, Σx)` |
/// | Q5_0 | `d`, permuted `qh` words, qs as Q4_0; `q − 16` signed | `acc = fma(S, d)` |
/// | Q5_1 | `d`, `m`, permuted `qh`, qs | as Q4_1 |
/// | Q8_0 | `d`, 8 groups: group `2g + h` = columns `16h + 4g ..< +4` | `acc = fma(S, d)` |
/// | IQ4_NL | `d`, qs as Q4_0; values by table (`vpshufb`) | `acc = fma(S, d)` |
/// | Q4_K | `d`, `dmin`, scales and mins decoded to bytes, qs: 4 chunks × 8 groups | `acc = fma(S, d·sc)`; `acc = fma(−(dmin·m), Σx)` |
/// | Q5_K | as Q4_K + `qh` (8 groups; bit `s` = sub-block `s`) | as Q4_K |
/// | Q6_K | `d`, 16 scales, ql 4 chunks, qh 2 halves × 8 groups; `q − 32` | per 16 columns: `S = I_a·s_a + I_b·s_b`; `acc = fma(S, d·sc)` |
/// | Q3_K | `d`, 16 scales decoded (`sc − 32`), hmask 8 groups, qs 2 halves; `q − 4` | per 16 columns, as Q6_K |
/// | Q2_K | `d`, `dmin`, 16 scale bytes as in the file, qs 2 halves | per 16: `acc = fma(S, d·(sc & 15))`; `acc = fma(−(dmin·(sc >> 4)), Σx₁₆)` |
/// | IQ4_XS | `d`, 8 scales decoded (`ls − 32`), qs: 8 sub-blocks as IQ4_NL | `acc = fma(S, d·(ls − 32))` |
///
/// `S` is an fma chain from 0 over the groups in the order 0, 2, 1, 3 (per 16 columns: 0, 1 then 2, 3); `Σx` is the
/// activations' exact sum over the sub-block (`Σx₁₆` over 16 columns). Resident memory stays the file size, plus
/// 4 bytes per 256 weights where 6-bit scales are decoded (Q4_K, Q5_K, Q3_K) and 2 for IQ4_XS.
struct PanelLayout {
    /// One field of a GGUF block and where it goes.
    enum Part {
        /// The f16 at `file` ↔ entry `lane` of an 8-wide f16 array at `panel`.
        case half(file: Int, panel: Int)
        /// `pieces` runs of 4 bytes from `file` ↔ lane `lane`'s word of consecutive 32-byte groups from `panel`,
        /// `stride` bytes apart.
        case quants(file: Int, pieces: Int, panel: Int, stride: Int)
        /// `count` bytes from `file` ↔ byte `lane` of `count` 8-byte arrays from `panel`.
        case bytes(file: Int, count: Int, panel: Int)
        /// Q5_0/Q5_1's `qh` word, its bits permuted into the order the kernel consumes (`q5Bit`).
        case q5High(file: Int, panel: Int)
        /// Q4_K/Q5_K's 12 bytes of packed 6-bit scales and mins ↔ 8 scale bytes at `scales`, 8 min bytes at `mins`.
        case kScales(file: Int, scales: Int, mins: Int)
        /// Q3_K's 12 bytes of 16 packed 6-bit scales ↔ 16 signed bytes `scale − 32`.
        case q3Scales(file: Int, panel: Int)
        /// IQ4_XS's `scales_h` (2 bytes) and `scales_l` (4) ↔ 8 signed bytes `scale − 32`.
        case iq4Scales(file: Int, panel: Int)
    }

    let type: TensorType
    let offsets: bk_layout
    let parts: [Part]

    /// The layout of `type`, or nil when it is not packed.
    init?(_ type: TensorType) {
        let o = bk_panel_layout(Int32(type.rawValue))
        guard o.stride > 0 else { return nil }
        self.type = type
        offsets = o
        let d = Int(o.d), m = Int(o.m), scales = Int(o.scales), mins = Int(o.mins), high = Int(o.high), quants = Int(o.quants)
        switch type {
        case .q4_0, .iq4_nl: parts = [.half(file: 0, panel: d), .quants(file: 2, pieces: 4, panel: quants, stride: 32)]
        case .q4_1: parts = [.half(file: 0, panel: d), .half(file: 2, panel: m), .quants(file: 4, pieces: 4, panel: quants, stride: 32)]
        case .q5_0:
            parts = [.half(file: 0, panel: d), .q5High(file: 2, panel: high), .quants(file: 6, pieces: 4, panel: quants, stride: 32)]
        case .q5_1:
            parts = [.half(file: 0, panel: d), .half(file: 2, panel: m), .q5High(file: 4, panel: high),
                     .quants(file: 8, pieces: 4, panel: quants, stride: 32)]
        case .q8_0:
            parts = [.half(file: 0, panel: d), .quants(file: 2, pieces: 4, panel: quants, stride: 64),
                     .quants(file: 18, pieces: 4, panel: quants + 32, stride: 64)]
        case .q4_K:
            parts = [.half(file: 0, panel: d), .half(file: 2, panel: m), .kScales(file: 4, scales: scales, mins: mins),
                     .quants(file: 16, pieces: 32, panel: quants, stride: 32)]
        case .q5_K:
            parts = [.half(file: 0, panel: d), .half(file: 2, panel: m), .kScales(file: 4, scales: scales, mins: mins),
                     .quants(file: 16, pieces: 8, panel: high, stride: 32), .quants(file: 48, pieces: 32, panel: quants, stride: 32)]
        case .q6_K:
            parts = [.quants(file: 0, pieces: 32, panel: quants, stride: 32), .quants(file: 128, pieces: 16, panel: high, stride: 32),
                     .bytes(file: 192, count: 16, panel: scales), .half(file: 208, panel: d)]
        case .q3_K:
            parts = [.quants(file: 0, pieces: 8, panel: high, stride: 32), .quants(file: 32, pieces: 16, panel: quants, stride: 32),
                     .q3Scales(file: 96, panel: scales), .half(file: 108, panel: d)]
        case .q2_K:
            parts = [.bytes(file: 0, count: 16, panel: scales), .quants(file: 16, pieces: 16, panel: quants, stride: 32),
                     .half(file: 80, panel: d), .half(file: 82, panel: m)]
        case .iq4_xs:
            parts = [.half(file: 0, panel: d), .iq4Scales(file: 2, panel: scales), .quants(file: 8, pieces: 32, panel: quants, stride: 32)]
        default: return nil
        }
    }

    /// Bytes of one panel block.
    var stride: Int { Int(offsets.stride) }

    /// Copies GGUF block `file` into lane `lane` of panel block `panel`.
    func pack(_ file: UnsafeRawPointer, lane: Int, into panel: UnsafeMutableRawPointer) {
        for part in parts { Self.move(part, file: UnsafeMutableRawPointer(mutating: file), panel: panel, lane: lane, packing: true) }
    }

    /// Restores lane `lane` of panel block `panel` as a GGUF block at `file` (the inverse of `pack`).
    func unpack(_ panel: UnsafeRawPointer, lane: Int, into file: UnsafeMutableRawPointer) {
        for part in parts { Self.move(part, file: file, panel: UnsafeMutableRawPointer(mutating: panel), lane: lane, packing: false) }
    }

    /// Moves one part file → panel (`packing`) or panel → file; only the destination is written.
    private static func move(_ part: Part, file: UnsafeMutableRawPointer, panel: UnsafeMutableRawPointer, lane: Int, packing: Bool) {
        @inline(__always) func copy<T>(_ type: T.Type, _ f: Int, _ p: Int) {
            if packing {
                (panel + p).storeBytes(of: (file + f).loadUnaligned(as: T.self), as: T.self)
            } else {
                (file + f).storeBytes(of: (panel + p).loadUnaligned(as: T.self), as: T.self)
            }
        }
        switch part {
        case .half(let f, let p): copy(UInt16.self, f, p + 2 * lane)
        case .quants(let f, let pieces, let p, let stride):
            for k in 0..<pieces { copy(UInt32.self, f + 4 * k, p + stride * k + 4 * lane) }
        case .bytes(let f, let count, let p):
            for k in 0..<count { copy(UInt8.self, f + k, p + 8 * k + lane) }
        case .q5High(let f, let p):
            if packing {
                let qh = (file + f).loadUnaligned(as: UInt32.self)
                var word: UInt32 = 0
                for c in 0..<32 { word |= (qh >> UInt32(c) & 1) << UInt32(q5Bit[c]) }
                (panel + p + 4 * lane).storeBytes(of: word, as: UInt32.self)
            } else {
                let word = (panel + p + 4 * lane).loadUnaligned(as: UInt32.self)
                var qh: UInt32 = 0
                for c in 0..<32 { qh |= (word >> UInt32(q5Bit[c]) & 1) << UInt32(c) }
                (file + f).storeBytes(of: qh, as: UInt32.self)
            }
        case .kScales(let f, let scales, let mins):
            let bytes = file.assumingMemoryBound(to: UInt8.self) + f
            let sc = panel.assumingMemoryBound(to: UInt8.self) + scales + lane, mn = panel.assumingMemoryBound(to: UInt8.self) + mins + lane
            if packing {
                for j in 0..<8 { (sc[8 * j], mn[8 * j]) = BlockDequantizer.kScaleMin(bytes, j) }
            } else {
                for j in 0..<4 {
                    bytes[j] = sc[8 * j] | (sc[8 * (j + 4)] >> 4) << 6
                    bytes[j + 4] = mn[8 * j] | (mn[8 * (j + 4)] >> 4) << 6
                    bytes[j + 8] = (sc[8 * (j + 4)] & 0x0F) | (mn[8 * (j + 4)] & 0x0F) << 4
                }
            }
        case .q3Scales(let f, let p):
            let bytes = file.assumingMemoryBound(to: UInt8.self) + f, out = panel.assumingMemoryBound(to: UInt8.self) + p + lane
            if packing {
                for s in 0..<16 {
                    let low = (bytes[s % 8] >> UInt8(4 * (s / 8))) & 0x0F, high = (bytes[8 + s % 4] >> UInt8(2 * (s / 4))) & 3
                    out[8 * s] = (low | high << 4) &- 32
                }
            } else {
                for k in 0..<12 { bytes[k] = 0 }
                for s in 0..<16 {
                    let value = out[8 * s] &+ 32
                    bytes[s % 8] |= (value & 0x0F) << UInt8(4 * (s / 8))
                    bytes[8 + s % 4] |= (value >> 4) << UInt8(2 * (s / 4))
                }
            }
        case .iq4Scales(let f, let p):
            let out = panel.assumingMemoryBound(to: UInt8.self) + p + lane, low = file.assumingMemoryBound(to: UInt8.self) + f + 2
            if packing {
                let high = (file + f).loadUnaligned(as: UInt16.self)
                for j in 0..<8 {
                    let value = (low[j / 2] >> UInt8(4 * (j % 2))) & 0x0F | (UInt8(truncatingIfNeeded: high >> UInt16(2 * j)) & 3) << 4
                    out[8 * j] = value &- 32
                }
            } else {
                var high: UInt16 = 0
                for k in 0..<4 { low[k] = 0 }
                for j in 0..<8 {
                    let value = out[8 * j] &+ 32
                    low[j / 2] |= (value & 0x0F) << UInt8(4 * (j % 2))
                    high |= UInt16(value >> 4) << UInt16(2 * j)
                }
                (file + f).storeBytes(of: high, as: UInt16.self)
            }
        }
    }

    /// Where column `c`'s fifth bit goes in a Q5 panel's `qh` word: vector `n = 4G + i` of group `G` (the kernel's
    /// `i`-th vector of that group) holds columns `(left, left + 2)` in its 16-bit lanes, so bit `n` of the word's low
    /// half is `left`'s bit and bit `n` of its high half is `left + 2`'s, with
    /// `left = 8·(G & 1) + 16·(G >> 1) + [0, 1, 4, 5][i]`.
    static let q5Bit: [Int] = (0..<32).map { c in
        let h = c >> 4, cc = c & 15, within = cc & 7
        let group = (cc >> 3) + 2 * h, i = (within & 1) + 2 * (within >> 2), side = (within >> 1) & 1
        return 16 * side + 4 * group + i
    }
}

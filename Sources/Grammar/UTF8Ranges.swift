/// Unicode scalar ranges as sequences of byte ranges: each sequence matches the UTF-8 encodings of one block of
/// scalars, and together they match exactly the encodings of the ranges (surrogates excluded, as UTF-8 has none).
enum UTF8Ranges {
    /// The byte-range sequences for the scalars in `ranges`.
    static func sequences(_ ranges: [ClosedRange<UInt32>]) -> [[ClosedRange<UInt8>]] {
        var out: [[ClosedRange<UInt8>]] = []
        let boundaries: [ClosedRange<UInt32>] = [0...0x7F, 0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF]
        for range in ranges {
            for block in boundaries {
                let lo = max(range.lowerBound, block.lowerBound), hi = min(range.upperBound, block.upperBound)
                if lo <= hi { split(lo, hi, into: &out) }
            }
        }
        return out
    }

    /// Splits `lo...hi` (same encoded length) until every continuation byte spans its full range or the leading
    /// bytes agree, then emits the per-position byte ranges.
    private static func split(_ lo: UInt32, _ hi: UInt32, into out: inout [[ClosedRange<UInt8>]]) {
        let length = encode(lo).count
        for i in 1..<max(length, 1) {
            let m: UInt32 = (1 << (6 * UInt32(i))) - 1
            if lo & ~m != hi & ~m {
                if lo & m != 0 {
                    split(lo, lo | m, into: &out)
                    split((lo | m) + 1, hi, into: &out)
                    return
                }
                if hi & m != m {
                    split(lo, (hi & ~m) - 1, into: &out)
                    split(hi & ~m, hi, into: &out)
                    return
                }
            }
        }
        let a = encode(lo), b = encode(hi)
        out.append(zip(a, b).map { $0...$1 })
    }

    /// The UTF-8 bytes of a scalar value (no validation of surrogates: callers exclude them).
    static func encode(_ v: UInt32) -> [UInt8] {
        switch v {
        case 0..<0x80: return [UInt8(v)]
        case 0x80..<0x800: return [UInt8(0xC0 | v >> 6), UInt8(0x80 | v & 0x3F)]
        case 0x800..<0x10000: return [UInt8(0xE0 | v >> 12), UInt8(0x80 | (v >> 6) & 0x3F), UInt8(0x80 | v & 0x3F)]
        default: return [UInt8(0xF0 | v >> 18), UInt8(0x80 | (v >> 12) & 0x3F), UInt8(0x80 | (v >> 6) & 0x3F),
                         UInt8(0x80 | v & 0x3F)]
        }
    }
}

/// Element encodings of weight tensors, with the block layout each one uses in memory.
///
/// Values match GGML's type ids (GGUF `ggml_type`), so a GGUF tensor info's type field maps directly.
public enum TensorType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case iq4_nl = 20
    case iq4_xs = 23
    case bf16 = 30

    /// Number of elements in one block (1 for plain float types).
    public var blockElements: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs: return 256
        }
    }

    /// Bytes taken by one block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .iq4_nl: return 18
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .iq4_xs: return 136
        }
    }

    /// The GGML name of the type (`Q4_1`, `F16`, …).
    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .iq4_nl: return "IQ4_NL"
        case .iq4_xs: return "IQ4_XS"
        }
    }

    /// Bytes needed for `elements` values, or nil when `elements` is not a whole number of blocks or overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockElements == 0 else { return nil }
        let (bytes, overflow) = (elements / blockElements).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }
}

/// Dequantizes `count` consecutive elements of type `type` starting at `source` (which must point at the start of a
/// block) into `destination`. `count` must be a multiple of the type's block size.
///
/// The arithmetic is the reference one (`d * q + m` as a separate multiply and add, no fused multiply-add), so the
/// values are bit-identical to `gguf.quants.dequantize` in numpy. The block layouts of Q5_0, Q5_1, IQ4_NL, the
/// K-quants and IQ4_XS are documented on their dequantizers in `BlockDequantizer` (Dequantize.swift).
@inline(__always)
public func dequantize(_ type: TensorType, _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
    switch type {
    case .f32:
        destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
    case .f16:
        let halves = source.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { destination[i] = Float(Float16(bitPattern: halves[i])) }
    case .bf16:
        let raw = source.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { destination[i] = Float(bitPattern: UInt32(raw[i]) << 16) }
    case .q8_0:
        for block in 0..<(count / 32) {
            let base = source + block * 34
            let d = Float(Float16(bitPattern: base.loadUnaligned(as: UInt16.self)))
            let qs = (base + 2).assumingMemoryBound(to: Int8.self)
            let out = destination + block * 32
            for j in 0..<32 { out[j] = d * Float(qs[j]) }
        }
    case .q4_0:
        for block in 0..<(count / 32) {
            let base = source + block * 18
            let d = Float(Float16(bitPattern: base.loadUnaligned(as: UInt16.self)))
            let qs = (base + 2).assumingMemoryBound(to: UInt8.self)
            let out = destination + block * 32
            for j in 0..<16 {
                out[j] = d * Float(Int32(qs[j] & 0x0F) - 8)
                out[j + 16] = d * Float(Int32(qs[j] >> 4) - 8)
            }
        }
    case .q4_1:
        for block in 0..<(count / 32) {
            let base = source + block * 20
            let d = Float(Float16(bitPattern: base.loadUnaligned(as: UInt16.self)))
            let m = Float(Float16(bitPattern: (base + 2).loadUnaligned(as: UInt16.self)))
            let qs = (base + 4).assumingMemoryBound(to: UInt8.self)
            let out = destination + block * 32
            for j in 0..<16 {
                let lo = d * Float(qs[j] & 0x0F)
                let hi = d * Float(qs[j] >> 4)
                out[j] = lo + m
                out[j + 16] = hi + m
            }
        }
    case .q5_0: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.q5_0)
    case .q5_1: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.q5_1)
    case .iq4_nl: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.iq4_nl)
    case .q2_K: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.q2_K)
    case .q3_K: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.q3_K)
    case .q4_K: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.q4_K)
    case .q5_K: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.q5_K)
    case .q6_K: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.q6_K)
    case .iq4_xs: BlockDequantizer.eachBlock(type, source, count: count, into: destination, BlockDequantizer.iq4_xs)
    }
}

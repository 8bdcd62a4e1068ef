/// Element encodings of weight tensors, with the block layout each one uses in memory.
///
/// Values match GGML's type ids (GGUF `ggml_type`), so a GGUF tensor info's type field maps directly.
public enum TensorType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q8_0 = 8
    case bf16 = 30

    /// Number of elements in one block (1 for plain float types).
    public var blockElements: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        }
    }

    /// Bytes taken by one block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q8_0: return 34
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
        case .q8_0: return "Q8_0"
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
/// values are bit-identical to `gguf.quants.dequantize` in numpy.
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
    }
}

/// A quantized weight matrix (Q4_0, Q4_1 or Q8_0) rearranged at load time into panels of 8 rows, so that the integer
/// kernels in `QuantMatMul` compute 8 output rows at once with one row per SIMD lane.
///
/// Layout: panel `p` holds rows `8p ..< 8p+8` (the last panel is padded with zero rows); its blocks of 32 columns
/// follow one another, each as
/// - `scale[8]` (f32, the GGUF block's f16 `d` of each row), then for 4-bit types `offset[8]` (f32: Q4_1's `m`, or
///   `-8·d` for Q4_0);
/// - for 4-bit types, 4 groups of 32 bytes: in group `g`, 32-bit lane `r` is row `r`'s quant bytes `4g ..< 4g+4` (low
///   nibbles are columns `4g…4g+3`, high nibbles `16+4g…19+4g`);
/// - for Q8_0, 8 groups of 32 bytes: group `2g` has columns `4g ..< 4g+4` of each row in lane `r`, group `2g+1`
///   columns `16+4g ..< 20+4g`.
///
/// The scales are widened to f32 once here (f16 → f32 is exact), which costs 20 % more bytes for Q4 and 6 % for Q8
/// but saves a conversion per block in the hot loop. Nothing is dequantized: resident memory stays ≈ the file size.
///
/// `@unchecked Sendable`: the panel bytes are written once in `init` and only read afterwards; they are freed in
/// `deinit`, when no stage refers to the matrix any more.
public final class PackedMatrix: @unchecked Sendable {
    /// The encoding the matrix came from (`q4_0`, `q4_1` or `q8_0`).
    public let type: TensorType
    public let rows: Int
    public let columns: Int
    /// Panels of 8 rows (`⌈rows / 8⌉`).
    public let panels: Int
    /// Blocks of 32 columns.
    public let blocks: Int
    /// Bytes of one panel's block (scales, offsets, quants).
    public let blockStride: Int
    let base: UnsafeMutableRawPointer

    /// The encodings that can be packed.
    public static func canPack(_ type: TensorType) -> Bool { [.q4_0, .q4_1, .q8_0].contains(type) }

    /// Bytes of one 8-row panel block in the packed layout of `type`.
    static func blockStride(_ type: TensorType) -> Int { type == .q8_0 ? 32 + 256 : 64 + 128 }

    /// Packs `source`, which must be Q4_0, Q4_1 or Q8_0 (see `canPack`).
    public init(_ source: WeightMatrix) {
        precondition(Self.canPack(source.type), "\(source.type) matrices are not packed")
        type = source.type
        rows = source.rows
        columns = source.columns
        panels = (rows + 7) / 8
        blocks = columns / 32
        blockStride = Self.blockStride(type)
        let bytes = max(1, panels * blocks * blockStride)
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        for row in 0..<rows {
            for block in 0..<blocks { pack(row: row, block: block, from: source.base + row * source.rowBytes + block * type.blockBytes) }
        }
    }

    deinit { base.deallocate() }

    /// Bytes of panel memory.
    public var byteCount: Int { panels * blocks * blockStride }

    /// Start of panel `panel`'s block `block`.
    @inline(__always)
    func block(panel: Int, _ block: Int) -> UnsafeMutableRawPointer { base + (panel * blocks + block) * blockStride }

    private func pack(row: Int, block: Int, from source: UnsafeRawPointer) {
        let lane = row % 8
        let target = self.block(panel: row / 8, block)
        let floats = target.assumingMemoryBound(to: Float.self)
        let d = Float(Float16(bitPattern: source.loadUnaligned(as: UInt16.self)))
        floats[lane] = d
        switch type {
        case .q4_0, .q4_1:
            floats[8 + lane] = type == .q4_1 ? Float(Float16(bitPattern: (source + 2).loadUnaligned(as: UInt16.self))) : -8 * d
            let quants = source + (type == .q4_1 ? 4 : 2)
            for g in 0..<4 { (target + 64 + 32 * g + 4 * lane).copyMemory(from: quants + 4 * g, byteCount: 4) }
        default:
            let quants = source + 2
            for g in 0..<4 {
                (target + 32 + 64 * g + 4 * lane).copyMemory(from: quants + 4 * g, byteCount: 4)
                (target + 32 + 64 * g + 32 + 4 * lane).copyMemory(from: quants + 16 + 4 * g, byteCount: 4)
            }
        }
    }

    /// Dequantizes row `row` into `destination` (`columns` floats), bit-identical to `WeightMatrix.dequantizeRow` on
    /// the matrix it was packed from (the embedding lookup of a tied embedding/output matrix uses this).
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        let lane = row % 8
        for b in 0..<blocks {
            let source = block(panel: row / 8, b)
            let d = source.load(fromByteOffset: 4 * lane, as: Float.self)
            let out = destination + 32 * b
            switch type {
            case .q4_0, .q4_1:
                let m = source.load(fromByteOffset: 32 + 4 * lane, as: Float.self)
                for g in 0..<4 {
                    for j in 0..<4 {
                        let byte = source.load(fromByteOffset: 64 + 32 * g + 4 * lane + j, as: UInt8.self)
                        let (lo, hi) = (byte & 0x0F, byte >> 4)
                        if type == .q4_1 {
                            out[4 * g + j] = d * Float(lo) + m
                            out[16 + 4 * g + j] = d * Float(hi) + m
                        } else {
                            out[4 * g + j] = d * Float(Int32(lo) - 8)
                            out[16 + 4 * g + j] = d * Float(Int32(hi) - 8)
                        }
                    }
                }
            default:
                for g in 0..<4 {
                    for j in 0..<4 {
                        out[4 * g + j] = d * Float(source.load(fromByteOffset: 32 + 64 * g + 4 * lane + j, as: Int8.self))
                        out[16 + 4 * g + j] = d * Float(source.load(fromByteOffset: 64 + 64 * g + 4 * lane + j, as: Int8.self))
                    }
                }
            }
        }
    }
}

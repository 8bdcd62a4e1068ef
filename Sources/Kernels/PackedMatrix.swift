/// A quantized weight matrix (Q4_0, Q4_1 or Q8_0) rearranged at load time into panels of 8 rows, so that the integer
/// kernels in `QuantMatMul` compute 8 output rows at once with one row per SIMD lane.
///
/// Layout: panel `p` holds rows `8p ..< 8p+8` (the last panel is padded with zero rows); its blocks of 32 columns
/// follow one another, each as
/// - `d[8]`, the GGUF blocks' f16 scales of the 8 rows, then for Q4_1 `m[8]` (f16; Q4_0's offset `-8·d` is computed);
/// - for 4-bit types, 4 groups of 32 bytes: in group `g`, 32-bit lane `r` is row `r`'s quant bytes `4g ..< 4g+4` (low
///   nibbles are columns `4g…4g+3`, high nibbles `16+4g…19+4g`);
/// - for Q8_0, 8 groups of 32 bytes: group `2g` has columns `4g ..< 4g+4` of each row in lane `r`, group `2g+1`
///   columns `16+4g ..< 20+4g`.
///
/// That is exactly the GGUF blocks' bytes, rearranged: nothing is dequantized, resident memory stays the file size.
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

    /// The largest activation quant the kernels accept for this matrix: `QuantizedActivations.q8Limit` for Q8_0
    /// (two products of 8-bit weights must fit a 16-bit lane), `QuantizedActivations.limit` for 4-bit types.
    public var activationLimit: Float { type == .q8_0 ? QuantizedActivations.q8Limit : QuantizedActivations.limit }

    /// The encodings that can be packed.
    public static func canPack(_ type: TensorType) -> Bool { [.q4_0, .q4_1, .q8_0].contains(type) }

    /// Bytes of one 8-row panel block in the packed layout of `type`.
    static func blockStride(_ type: TensorType) -> Int { 8 * type.blockBytes }

    /// Where the quants start in a panel block (after `d[8]`, and `m[8]` for Q4_1).
    let quantOffset: Int

    /// Packs `source`, which must be Q4_0, Q4_1 or Q8_0 (see `canPack`).
    public init(_ source: WeightMatrix) {
        precondition(Self.canPack(source.type), "\(source.type) matrices are not packed")
        type = source.type
        rows = source.rows
        columns = source.columns
        panels = (rows + 7) / 8
        blocks = columns / 32
        blockStride = Self.blockStride(type)
        quantOffset = type == .q4_1 ? 32 : 16
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
        (target + 2 * lane).copyMemory(from: source, byteCount: 2)  // d
        switch type {
        case .q4_0, .q4_1:
            if type == .q4_1 { (target + 16 + 2 * lane).copyMemory(from: source + 2, byteCount: 2) }  // m
            let quants = source + (type == .q4_1 ? 4 : 2)
            for g in 0..<4 { (target + quantOffset + 32 * g + 4 * lane).copyMemory(from: quants + 4 * g, byteCount: 4) }
        default:
            let quants = source + 2
            for g in 0..<4 {
                (target + quantOffset + 64 * g + 4 * lane).copyMemory(from: quants + 4 * g, byteCount: 4)
                (target + quantOffset + 64 * g + 32 + 4 * lane).copyMemory(from: quants + 16 + 4 * g, byteCount: 4)
            }
        }
    }

    /// Dequantizes row `row` into `destination` (`columns` floats), bit-identical to `WeightMatrix.dequantizeRow` on
    /// the matrix it was packed from (the embedding lookup of a tied embedding/output matrix uses this).
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        let lane = row % 8
        for b in 0..<blocks {
            let source = block(panel: row / 8, b)
            let d = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * lane, as: UInt16.self)))
            let out = destination + 32 * b
            switch type {
            case .q4_0, .q4_1:
                let m = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 16 + 2 * lane, as: UInt16.self)))
                for g in 0..<4 {
                    for j in 0..<4 {
                        let byte = source.load(fromByteOffset: quantOffset + 32 * g + 4 * lane + j, as: UInt8.self)
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
                        out[4 * g + j] = d * Float(source.load(fromByteOffset: quantOffset + 64 * g + 4 * lane + j, as: Int8.self))
                        out[16 + 4 * g + j] = d * Float(source.load(fromByteOffset: quantOffset + 64 * g + 32 + 4 * lane + j, as: Int8.self))
                    }
                }
            }
        }
    }
}

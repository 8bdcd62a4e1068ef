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
        let lanes = (0..<8).map(pieces(lane:))
        for row in 0..<rows {
            let pieces = lanes[row % 8]
            for block in 0..<blocks {
                let file = source.base + row * source.rowBytes + block * type.blockBytes
                let target = self.block(panel: row / 8, block)
                for piece in pieces { Self.copy(piece.count, from: file + piece.file, to: target + piece.panel) }
            }
        }
    }

    deinit { base.deallocate() }

    /// Bytes of panel memory.
    public var byteCount: Int { panels * blocks * blockStride }

    /// Start of panel `panel`'s block `block`.
    @inline(__always)
    func block(panel: Int, _ block: Int) -> UnsafeMutableRawPointer { base + (panel * blocks + block) * blockStride }

    /// Where the bytes of row lane `lane` lie in a GGUF block (`file`) and in a panel block (`panel`): its scale `d`,
    /// Q4_1's `m`, and its quants in 4-byte runs. Packing copies file → panel; `dequantizeRow` copies them back.
    private func pieces(lane: Int) -> [(file: Int, panel: Int, count: Int)] {
        var pieces = [(file: 0, panel: 2 * lane, count: 2)]  // d
        switch type {
        case .q4_0, .q4_1:
            if type == .q4_1 { pieces.append((file: 2, panel: 16 + 2 * lane, count: 2)) }  // m
            let quants = type == .q4_1 ? 4 : 2
            for g in 0..<4 { pieces.append((file: quants + 4 * g, panel: quantOffset + 32 * g + 4 * lane, count: 4)) }
        default:
            for g in 0..<4 {
                pieces.append((file: 2 + 4 * g, panel: quantOffset + 64 * g + 4 * lane, count: 4))
                pieces.append((file: 2 + 16 + 4 * g, panel: quantOffset + 64 * g + 32 + 4 * lane, count: 4))
            }
        }
        return pieces
    }

    /// Copies a piece: 2 or 4 bytes as one unaligned load and store (a `memcpy` call per piece doubles the load time).
    @inline(__always)
    private static func copy(_ count: Int, from source: UnsafeRawPointer, to target: UnsafeMutableRawPointer) {
        if count == 4 {
            target.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
        } else {
            target.storeBytes(of: source.loadUnaligned(as: UInt16.self), as: UInt16.self)
        }
    }

    /// Dequantizes row `row` into `destination` (`columns` floats): each block is put back in its GGUF layout and
    /// decoded by the reference `dequantize`, so the values are those of `WeightMatrix.dequantizeRow` on the matrix
    /// it was packed from (the embedding lookup of a tied embedding/output matrix uses this).
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        let pieces = self.pieces(lane: row % 8)
        withUnsafeTemporaryAllocation(byteCount: type.blockBytes, alignment: 2) { buffer in
            let file = buffer.baseAddress!
            for b in 0..<blocks {
                let source = UnsafeRawPointer(block(panel: row / 8, b))
                for piece in pieces { Self.copy(piece.count, from: source + piece.panel, to: file + piece.file) }
                dequantize(type, UnsafeRawPointer(file), count: 32, into: destination + 32 * b)
            }
        }
    }
}

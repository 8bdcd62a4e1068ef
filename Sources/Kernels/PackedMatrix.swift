/// A quantized weight matrix rearranged at load time into panels of 8 rows, so that the integer kernels
/// (`QuantMatMul`, and the C variants in `CKernels`) compute 8 output rows at once with one row per SIMD lane.
///
/// Layout: panel `p` holds rows `8p ..< 8p+8` (the last panel is padded with zero rows); its blocks (one per GGUF block:
/// 32 columns, or 256 for K-quants and IQ4_XS) follow one another, each holding the 8 rows' GGUF blocks rearranged
/// as `PanelLayout` describes. For Q4_0 / Q4_1 / Q8_0, which the Swift kernels also read:
/// - `d[8]`, the GGUF blocks' f16 scales of the 8 rows, then for Q4_1 `m[8]` (f16; Q4_0's offset `-8·d` is computed);
/// - for 4-bit types, 4 groups of 32 bytes: in group `g`, 32-bit lane `r` is row `r`'s quant bytes `4g ..< 4g+4` (low
///   nibbles are columns `4g…4g+3`, high nibbles `16+4g…19+4g`);
/// - for Q8_0, 8 groups of 32 bytes: group `2g` has columns `4g ..< 4g+4` of each row in lane `r`, group `2g+1`
///   columns `16+4g ..< 20+4g`.
///
/// That is the GGUF blocks' bytes, rearranged: nothing is dequantized, resident memory stays the file size (plus a
/// few bytes per 256 weights where K-quant scales are decoded).
///
/// `@unchecked Sendable`: the panel bytes are written once in `init` and only read afterwards; they are freed in
/// `deinit`, when no stage refers to the matrix any more.
public final class PackedMatrix: @unchecked Sendable {
    /// The encoding the matrix came from.
    public let type: TensorType
    public let rows: Int
    public let columns: Int
    /// Panels of 8 rows (`⌈rows / 8⌉`).
    public let panels: Int
    /// Blocks of 32 columns (the activations' blocks).
    public let blocks: Int
    /// Panel blocks per panel: one per GGUF block of a row (`columns / type.blockElements`).
    public let superblocks: Int
    /// Bytes of one panel block (8 GGUF blocks rearranged).
    public let blockStride: Int
    let base: UnsafeMutableRawPointer
    let layout: PanelLayout

    /// The largest activation quant the kernels accept for this matrix: `QuantizedActivations.q8Limit` for Q8_0
    /// (the Swift kernel sums two products of 8-bit weights in a 16-bit lane, and every path must see the same
    /// activations), `QuantizedActivations.limit` for every other type.
    public var activationLimit: Float { type == .q8_0 ? QuantizedActivations.q8Limit : QuantizedActivations.limit }

    /// The encodings that can be packed: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q2_K–Q6_K, IQ4_XS.
    public static func canPack(_ type: TensorType) -> Bool { PanelLayout(type) != nil }

    /// Where the quants start in a panel block (after `d[8]`, and `m[8]` for Q4_1), for the Swift kernels.
    let quantOffset: Int

    /// Packs `source`, whose encoding must be packable (see `canPack`).
    public init(_ source: WeightMatrix) {
        guard let layout = PanelLayout(source.type) else { preconditionFailure("\(source.type) matrices are not packed") }
        self.layout = layout
        type = source.type
        rows = source.rows
        columns = source.columns
        panels = (rows + 7) / 8
        blocks = columns / 32
        superblocks = columns / type.blockElements
        blockStride = layout.stride
        quantOffset = Int(layout.offsets.quants)
        let bytes = max(1, panels * superblocks * blockStride)
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        for row in 0..<rows {
            for block in 0..<superblocks {
                layout.pack(source.base + row * source.rowBytes + block * type.blockBytes, lane: row % 8,
                            into: self.block(panel: row / 8, block))
            }
        }
    }

    deinit { base.deallocate() }

    /// Bytes of panel memory.
    public var byteCount: Int { panels * superblocks * blockStride }

    /// Start of panel `panel`'s block `block`.
    @inline(__always)
    func block(panel: Int, _ block: Int) -> UnsafeMutableRawPointer { base + (panel * superblocks + block) * blockStride }

    /// Dequantizes row `row` into `destination` (`columns` floats): each block is put back in its GGUF layout and
    /// decoded by the reference `dequantize`, so the values are those of `WeightMatrix.dequantizeRow` on the matrix
    /// it was packed from (the embedding lookup of a tied embedding/output matrix uses this).
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(byteCount: type.blockBytes, alignment: 2) { buffer in
            let file = buffer.baseAddress!
            for b in 0..<superblocks {
                layout.unpack(block(panel: row / 8, b), lane: row % 8, into: file)
                dequantize(type, UnsafeRawPointer(file), count: type.blockElements, into: destination + type.blockElements * b)
            }
        }
    }
}

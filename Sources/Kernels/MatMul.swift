/// A read-only weight matrix of `rows` output features × `columns` input features, row-major, in its stored encoding
/// (quantized blocks or floats). Row `r` holds the weights of output `r` (GGUF's `[ne0 = columns, ne1 = rows]`).
///
/// `@unchecked Sendable`: the matrix only points at immutable bytes (a read-only file mapping or a frozen buffer) that
/// its owner keeps alive for as long as the model is loaded; nothing ever writes through it.
public struct WeightMatrix: @unchecked Sendable {
    public let type: TensorType
    public let rows: Int
    public let columns: Int
    public let base: UnsafeRawPointer
    /// Bytes between consecutive rows.
    public let rowBytes: Int

    /// Creates a view on `rows × columns` elements of `type` at `base`. `columns` must be a whole number of blocks.
    public init(type: TensorType, rows: Int, columns: Int, base: UnsafeRawPointer) {
        precondition(columns % type.blockElements == 0, "row length must be a whole number of \(type) blocks")
        self.type = type
        self.rows = rows
        self.columns = columns
        self.base = base
        self.rowBytes = columns / type.blockElements * type.blockBytes
    }

    /// Dequantizes row `row` into `destination` (`columns` floats).
    @inline(__always)
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        dequantize(type, base + row * rowBytes, count: columns, into: destination)
    }
}

public enum MatMul {
    /// `y[t, r] = dot(W[r, :], x[t, :]) (+ bias[r])` for `tokens` input rows.
    ///
    /// Rows of `W` are dequantized to f32 once per call and applied to every token, so one pass over the weights serves
    /// the whole batch. Each output element is one `VectorOps.dot`-ordered reduction, independent of `tokens` and of the
    /// thread split: a token's outputs are bit-identical whatever batch it is in.
    /// - Parameters:
    ///   - x: `tokens × W.columns` floats, row-major.
    ///   - y: `tokens × W.rows` floats, row-major.
    public static func multiply(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>? = nil
    ) {
        let columns = w.columns, rowsOut = w.rows
        parallelChunks(rowsOut, minimumPerChunk: 64) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * columns) { scratch in
                let s = scratch.baseAddress!
                var r = range.lowerBound
                while r + 4 <= range.upperBound {
                    for k in 0..<4 { w.dequantizeRow(r + k, into: s + k * columns) }
                    for t in 0..<tokens {
                        let dots = VectorOps.dot4(s, s + columns, s + 2 * columns, s + 3 * columns, x + t * columns, columns)
                        let out = y + t * rowsOut + r
                        for k in 0..<4 { out[k] = bias.map { dots[k] + $0[r + k] } ?? dots[k] }
                    }
                    r += 4
                }
                while r < range.upperBound {
                    w.dequantizeRow(r, into: s)
                    for t in 0..<tokens {
                        let dot = VectorOps.dot(s, x + t * columns, columns)
                        y[t * rowsOut + r] = bias.map { dot + $0[r] } ?? dot
                    }
                    r += 1
                }
            }
        }
    }
}

import Kernels

/// A named weight tensor, normalized to a `rows × columns` matrix (vectors are `1 × n`).
public struct StoredTensor: Sendable {
    public let name: String
    public let matrix: WeightMatrix
    public var type: TensorType { matrix.type }
    public var rows: Int { matrix.rows }
    public var columns: Int { matrix.columns }
}


/// The weights of a model under GGUF-style canonical names (`token_embd.weight`, `blk.3.attn_q.weight`, …), whatever
/// layout they came from, backed by read-only file mappings that the store keeps alive.
public final class TensorStore: Sendable {
    public let source: String
    public let tensors: [String: StoredTensor]
    /// Keeps the mappings alive as long as any matrix points into them.
    let owners: [AnyObject & Sendable]

    init(source: String, tensors: [String: StoredTensor], owners: [AnyObject & Sendable]) {
        self.source = source
        self.tensors = tensors
        self.owners = owners
    }

    /// The tensor `name` with its expected shape checked, or a typed error naming it.
    public func matrix(_ name: String, rows: Int, columns: Int) throws(ModelFileError) -> WeightMatrix {
        guard let tensor = tensors[name] else {
            throw ModelFileError(file: source, location: "tensor \(name)", problem: "missing tensor")
        }
        guard tensor.rows == rows, tensor.columns == columns else {
            throw ModelFileError(file: source, location: "tensor \(name)",
                                 problem: "shape is \(tensor.rows)×\(tensor.columns) (rows × columns), expected \(rows)×\(columns)")
        }
        return tensor.matrix
    }

    /// A 1-D tensor of `count` values, converted to `Float`.
    public func vector(_ name: String, count: Int) throws(ModelFileError) -> [Float] {
        let m = try matrix(name, rows: 1, columns: count)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            m.dequantizeRow(0, into: buffer.baseAddress!)
            initialized = count
        }
    }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }
}

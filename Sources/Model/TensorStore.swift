#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

/// A named weight tensor, normalized to a `rows × columns` matrix (vectors are `1 × n`).
public struct StoredTensor: Sendable {
    public let name: String
    /// The tensor in its file encoding. When `packed` is set, `matrix` still describes its type and shape, but the
    /// bytes it points at may have been released: compute with `packed`.
    public let matrix: WeightMatrix
    /// The tensor packed for the integer kernels (`Precision.integer`), if it was.
    public var packed: PackedMatrix? = nil
    public var type: TensorType { matrix.type }
    public var rows: Int { matrix.rows }
    public var columns: Int { matrix.columns }
}


/// The weights of a model under GGUF-style canonical names (`token_embd.weight`, `blk.3.attn_q.weight`, …), whatever
/// layout they came from, backed by read-only file mappings that the store keeps alive.
public final class TensorStore: Sendable {
    public let source: String
    public let tensors: [String: StoredTensor]
    /// Keeps the mappings (and private copies) alive as long as any matrix points into them.
    let owners: [AnyObject & Sendable]
    /// Tensors already copied out of the mappings by `privatized`, so stages of one process share one copy.
    private let copies: Locked<[String: PrivateTensor]>
    /// Files of a split model that are not present: a tensor that is not found may be in one of them.
    let missingSources: [String]

    init(source: String, tensors: [String: StoredTensor], owners: [AnyObject & Sendable], missingSources: [String] = []) {
        self.source = source
        self.tensors = tensors
        self.owners = owners
        self.missingSources = missingSources
        copies = Locked([:])
    }

    /// This store with the named tensors copied out of the file mappings into this process's memory, so that the
    /// model file can be truncated or rewritten while they are in use (a truncated file's pages vanish even from
    /// private mappings, and reading them raises SIGBUS). With `precision` `.integer`, quantized matrices are copied into
    /// the packed panels of the integer kernels instead. Each tensor is copied once per store and precision; the
    /// mapped pages it was read from are dropped, so resident memory stays about one copy of what the stages use.
    public func privatized(_ names: some Sequence<String>, precision: Precision = .f32) -> TensorStore {
        var tensors = self.tensors
        var owners = self.owners
        copies.withLock { copies in
            for name in names {
                guard let tensor = self.tensors[name] else { continue }
                let pack = precision == .integer && PackedMatrix.canPack(tensor.type)
                let key = pack ? name + " packed" : name
                let copy = copies[key] ?? PrivateTensor(tensor.matrix, pack: pack)
                copies[key] = copy
                tensors[name] = StoredTensor(name: name, matrix: copy.matrix, packed: copy.packed)
                owners.append(copy)
            }
        }
        return TensorStore(source: source, tensors: tensors, owners: owners, missingSources: missingSources)
    }

    /// The weights of a linear layer `name` with its shape checked: packed panels if the store packed it, else rows.
    public func projection(_ name: String, rows: Int, columns: Int) throws(ModelFileError) -> Projection {
        let matrix = try matrix(name, rows: rows, columns: columns)
        if let packed = tensors[name]?.packed { return .panels(packed) }
        return .rows(matrix)
    }

    /// The tensor `name` with its expected shape checked, or a typed error naming it.
    public func matrix(_ name: String, rows: Int, columns: Int) throws(ModelFileError) -> WeightMatrix {
        guard let tensor = tensors[name] else {
            let hint = missingSources.isEmpty ? "" : " (it may be in a shard that is not present: \(missingSources.joined(separator: ", ")))"
            throw ModelFileError(file: source, location: "tensor \(name)", problem: "missing tensor" + hint)
        }
        guard tensor.rows == rows, tensor.columns == columns else {
            throw ModelFileError(file: source, location: "tensor \(name)",
                                 problem: "shape is \(tensor.rows)×\(tensor.columns) (rows × columns), expected \(rows)×\(columns)")
        }
        return tensor.matrix
    }

    /// A 1-D tensor of `count` values, converted to `Float`.
    public func vector(_ name: String, count: Int) throws(ModelFileError) -> [Float] {
        let m = try projection(name, rows: 1, columns: count)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            m.dequantizeRow(0, into: buffer.baseAddress!)
            initialized = count
        }
    }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }
}

/// A weight matrix's bytes copied into memory this process owns (64-byte aligned), as rows or as packed panels.
///
/// `@unchecked Sendable`: the bytes are written once in `init` and only read afterwards; they are freed in `deinit`,
/// when no matrix refers to them any more.
final class PrivateTensor: @unchecked Sendable {
    /// The rows (when packed: the source, for its type and shape only).
    let matrix: WeightMatrix
    let packed: PackedMatrix?
    /// The copied rows; nil when packed.
    private let storage: UnsafeMutableRawPointer?

    init(_ source: WeightMatrix, pack: Bool) {
        if pack {
            packed = PackedMatrix(source)
            storage = nil
            matrix = source
        } else {
            let copy = UnsafeMutableRawPointer.allocate(byteCount: max(source.rows * source.rowBytes, 1), alignment: 64)
            copy.copyMemory(from: source.base, byteCount: source.rows * source.rowBytes)
            packed = nil
            storage = copy
            matrix = WeightMatrix(type: source.type, rows: source.rows, columns: source.columns, base: UnsafeRawPointer(copy))
        }
        let bytesRead = source.rows * source.rowBytes
        // The mapped pages just read are no longer needed here; drop them from this process (the page cache keeps them).
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: source.base) + page - 1) / page * page
        let end = (Int(bitPattern: source.base) + bytesRead) / page * page
        if end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) {
            madvise(pointer, end - start, Int32(MADV_DONTNEED))
        }
    }

    deinit { storage?.deallocate() }
}

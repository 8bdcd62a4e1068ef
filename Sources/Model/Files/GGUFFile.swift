import Kernels

/// A tensor's description in a model file and the location of its data.
public struct FileTensorInfo: Sendable {
    public let name: String
    /// Dimensions as the file stores them: GGUF puts the contiguous (input) dimension first, safetensors last.
    public let shape: [Int]
    public let type: TensorType
    /// Offset of the tensor's data from the start of the file.
    public let fileOffset: Int
    public let byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed GGUF (v2/v3) model file, mapped into memory.
///
/// Parsing validates everything before it is used: magic, version, counts against the bytes that remain, string and
/// array lengths, value types, tensor dimensions, types and data ranges, alignment. Tensor data is not copied.
public final class GGUFFile: Sendable {
    public typealias TensorInfo = FileTensorInfo

    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [String: TensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    public let alignment: Int
    public let dataOffset: Int
    let mapping: MappedFile

    /// The address of the mapped file's first byte; tensor `t` starts at `base + t.fileOffset`.
    public var base: UnsafeRawPointer { mapping.base }

    static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
    static let maxStringBytes = 1 << 30
    static let maxDimensions = 4

    /// Maps and parses `path`.
    public convenience init(path: String) throws(ModelFileError) {
        try self.init(mapping: MappedFile(path: path))
    }

    init(mapping: MappedFile) throws(ModelFileError) {
        self.mapping = mapping
        path = mapping.path
        var cursor = ByteCursor(file: mapping.path, base: mapping.base, count: mapping.count)
        let magic = try cursor.read(UInt32.self, "magic")
        guard magic == Self.magic else {
            throw cursor.error("not a GGUF file: magic is 0x\(String(magic, radix: 16)), expected 0x46554747 (\"GGUF\")", at: 0)
        }
        version = try cursor.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw cursor.error("unsupported GGUF version \(version) (Brigade reads versions 2 and 3)", at: 4)
        }
        let tensorCount = try cursor.read(UInt64.self, "tensor count")
        let keyCount = try cursor.read(UInt64.self, "metadata key count")
        // Each key-value pair takes at least 12 bytes and each tensor info at least 24: reject absurd counts early.
        guard keyCount <= UInt64(cursor.remaining / 12) else {
            throw cursor.error("absurd metadata key count \(keyCount) for a file of \(mapping.count) bytes", at: 16)
        }
        guard tensorCount <= UInt64(cursor.remaining / 24) else {
            throw cursor.error("absurd tensor count \(tensorCount) for a file of \(mapping.count) bytes", at: 8)
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<Int(keyCount) {
            let keyOffset = cursor.offset
            let key = try Self.readString(&cursor, "metadata key")
            let type = try cursor.read(UInt32.self, "type of key \(key)")
            let value = try Self.readValue(&cursor, type: type, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw cursor.error("duplicate metadata key \"\(key)\"", at: keyOffset)
            }
            keys.append(key)
        }
        metadataKeys = keys
        self.metadata = metadata

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw ModelFileError(file: path, location: "key general.alignment",
                                     problem: "alignment \(value) is not a power of two between 1 and 1 MiB")
            }
            alignment = a
        }
        self.alignment = alignment

        var pending: [(name: String, shape: [Int], type: TensorType, offset: Int, at: Int)] = []
        for _ in 0..<Int(tensorCount) {
            let at = cursor.offset
            let name = try Self.readString(&cursor, "tensor name")
            let dimensionCount = try cursor.read(UInt32.self, "dimension count of tensor \(name)")
            guard (1...UInt32(Self.maxDimensions)).contains(dimensionCount) else {
                throw cursor.error("tensor \(name) has \(dimensionCount) dimensions (GGUF allows 1 to 4)", at: at)
            }
            var shape: [Int] = []
            var elements = 1
            for _ in 0..<dimensionCount {
                let dimension = try cursor.read(UInt64.self, "dimension of tensor \(name)")
                guard dimension > 0, dimension < 1 << 40, case let (e, false) = elements.multipliedReportingOverflow(by: Int(dimension)),
                      e < 1 << 40
                else { throw cursor.error("tensor \(name) has an absurd dimension \(dimension)", at: at) }
                elements = e
                shape.append(Int(dimension))
            }
            let rawType = try cursor.read(UInt32.self, "type of tensor \(name)")
            guard let type = TensorType(rawValue: rawType) else {
                throw ModelFileError(file: path, location: "tensor \(name)",
                                     problem: "unsupported tensor type \(rawType) (\(Self.ggmlTypeName(rawType))); Brigade reads "
                                        + TensorType.allCases.map(\.description).joined(separator: ", "))
            }
            guard shape[0] % type.blockElements == 0 else {
                throw ModelFileError(file: path, location: "tensor \(name)",
                                     problem: "row length \(shape[0]) is not a multiple of the \(type) block size \(type.blockElements)")
            }
            let offset = try cursor.read(UInt64.self, "data offset of tensor \(name)")
            guard offset < 1 << 50 else { throw cursor.error("tensor \(name) has an absurd data offset \(offset)", at: at) }
            pending.append((name, shape, type, Int(offset), at))
        }

        let dataOffset = (cursor.offset + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        var tensors: [String: TensorInfo] = [:]
        var names: [String] = []
        for t in pending {
            guard t.offset % alignment == 0 else {
                throw ModelFileError(file: path, location: "tensor \(t.name)",
                                     problem: "data offset \(t.offset) is not aligned to \(alignment) bytes")
            }
            let elements = t.shape.reduce(1, *)
            guard let bytes = t.type.byteCount(elements: elements) else {
                throw ModelFileError(file: path, location: "tensor \(t.name)", problem: "size of \(elements) \(t.type) elements overflows")
            }
            let start = dataOffset + t.offset
            guard start <= mapping.count, bytes <= mapping.count - start else {
                throw ModelFileError(file: path, location: "tensor \(t.name)",
                                     problem: "data [\(start), \(start + bytes)) extends past the end of the file (\(mapping.count) bytes); the file is truncated or corrupt")
            }
            let info = TensorInfo(name: t.name, shape: t.shape, type: t.type, fileOffset: start, byteCount: bytes)
            guard tensors.updateValue(info, forKey: t.name) == nil else {
                throw ModelFileError(file: path, location: "offset \(t.at)", problem: "duplicate tensor name \"\(t.name)\"")
            }
            names.append(t.name)
        }
        self.tensors = tensors
        tensorNames = names
    }

    static func readString(_ cursor: inout ByteCursor, _ what: String) throws(ModelFileError) -> String {
        let at = cursor.offset
        let length = try cursor.read(UInt64.self, "length of \(what)")
        guard length <= UInt64(maxStringBytes), Int(length) <= cursor.remaining else {
            throw cursor.error("\(what) claims \(length) bytes but only \(cursor.remaining) remain", at: at)
        }
        let bytes = try cursor.readBytes(Int(length), what)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func readValue(_ cursor: inout ByteCursor, type: UInt32, key: String, depth: Int) throws(ModelFileError) -> GGUFValue {
        switch type {
        case 0: return .uint8(try cursor.read(UInt8.self, key))
        case 1: return .int8(try cursor.read(Int8.self, key))
        case 2: return .uint16(try cursor.read(UInt16.self, key))
        case 3: return .int16(try cursor.read(Int16.self, key))
        case 4: return .uint32(try cursor.read(UInt32.self, key))
        case 5: return .int32(try cursor.read(Int32.self, key))
        case 6: return .float32(Float(bitPattern: try cursor.read(UInt32.self, key)))
        case 7:
            let at = cursor.offset
            let byte = try cursor.read(UInt8.self, key)
            guard byte <= 1 else { throw cursor.error("key \(key): bool value \(byte) is neither 0 nor 1", at: at) }
            return .bool(byte == 1)
        case 8: return .string(try readString(&cursor, "value of \(key)"))
        case 9:
            let at = cursor.offset
            guard depth < 2 else { throw cursor.error("key \(key): arrays nested too deeply", at: at) }
            let elementType = try cursor.read(UInt32.self, "array type of \(key)")
            let count = try cursor.read(UInt64.self, "array length of \(key)")
            let minimumSize: UInt64 = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8][elementType] ?? 1
            guard count <= UInt64(cursor.remaining) / minimumSize else {
                throw cursor.error("key \(key): array of \(count) elements cannot fit in the \(cursor.remaining) bytes that remain", at: at)
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                values.append(try readValue(&cursor, type: elementType, key: key, depth: depth + 1))
            }
            return .array(values)
        case 10: return .uint64(try cursor.read(UInt64.self, key))
        case 11: return .int64(try cursor.read(Int64.self, key))
        case 12: return .float64(Double(bitPattern: try cursor.read(UInt64.self, key)))
        default:
            throw cursor.error("key \(key): unknown metadata value type \(type) (GGUF defines 0 to 12)", at: cursor.offset - 4)
        }
    }

    static func ggmlTypeName(_ raw: UInt32) -> String {
        let names: [UInt32: String] = [6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K",
                                       14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64"]
        return names[raw] ?? "unknown"
    }

    /// A tensor's data as a raw pointer, or a typed error naming the missing tensor.
    public func tensor(_ name: String) throws(ModelFileError) -> TensorInfo {
        guard let info = tensors[name] else {
            throw ModelFileError(file: path, location: "tensor \(name)", problem: "missing tensor (the file has \(tensors.count) tensors)")
        }
        return info
    }
}

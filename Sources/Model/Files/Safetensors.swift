import Foundation
import Kernels

/// A parsed `.safetensors` file, mapped into memory: a JSON header of tensor dtypes, shapes and data offsets, then
/// the raw data. Brigade reads F32, F16 and BF16 tensors.
public final class SafetensorsFile: Sendable {
    public typealias TensorInfo = FileTensorInfo

    public let path: String
    public let tensors: [String: TensorInfo]
    let mapping: MappedFile
    public var base: UnsafeRawPointer { mapping.base }

    static let maxHeaderBytes = 100 << 20

    public convenience init(path: String) throws(ModelFileError) {
        try self.init(mapping: MappedFile(path: path))
    }

    init(mapping: MappedFile) throws(ModelFileError) {
        self.mapping = mapping
        path = mapping.path
        var cursor = ByteCursor(file: path, base: mapping.base, count: mapping.count)
        let headerBytes = try cursor.read(UInt64.self, "header length")
        guard headerBytes >= 2, headerBytes <= UInt64(Self.maxHeaderBytes), Int(headerBytes) <= cursor.remaining else {
            throw cursor.error("header length \(headerBytes) is impossible for a file of \(mapping.count) bytes (not a safetensors file, or truncated)", at: 0)
        }
        let header = Data(try cursor.readBytes(Int(headerBytes), "header"))
        let dataStart = 8 + Int(headerBytes)
        let dataBytes = mapping.count - dataStart
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw ModelFileError(file: path, location: "offset 8", problem: "header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in json where name != "__metadata__" {
            let location = "tensor \(name)"
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw ModelFileError(file: path, location: location, problem: "entry needs dtype, shape and data_offsets [begin, end]") }
            let type: TensorType
            switch dtype {
            case "F32": type = .f32
            case "F16": type = .f16
            case "BF16": type = .bf16
            default:
                throw ModelFileError(file: path, location: location, problem: "unsupported dtype \(dtype) (Brigade reads F32, F16, BF16)")
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 40 }), shape.count <= 4 else {
                throw ModelFileError(file: path, location: location, problem: "absurd shape \(shape)")
            }
            var elements = 1
            for dimension in shape {
                let (e, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow, e < 1 << 40 else { throw ModelFileError(file: path, location: location, problem: "absurd shape \(shape)") }
                elements = e
            }
            let begin = offsets[0], end = offsets[1]
            guard begin >= 0, end >= begin, end <= dataBytes else {
                throw ModelFileError(file: path, location: location,
                                     problem: "data_offsets [\(begin), \(end)) lie outside the \(dataBytes) data bytes; the file is truncated or corrupt")
            }
            guard end - begin == elements * type.blockBytes else {
                throw ModelFileError(file: path, location: location,
                                     problem: "data_offsets cover \(end - begin) bytes but shape \(shape) of \(dtype) needs \(elements * type.blockBytes)")
            }
            tensors[name] = TensorInfo(name: name, shape: shape, type: type, fileOffset: dataStart + begin, byteCount: end - begin)
        }
        self.tensors = tensors
    }
}

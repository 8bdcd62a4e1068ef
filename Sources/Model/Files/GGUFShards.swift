import Foundation

/// A GGUF model published as several files in llama.cpp's `gguf-split` layout: `NAME-00001-of-00003.gguf`, …, each a
/// GGUF file of its own holding some of the tensors, with `split.no` (0-based), `split.count` and, in the first,
/// every metadata key and `split.tensors.count`.
///
/// The model is opened from the first shard's path. Shards that are not present are allowed (a host of a pipeline
/// may hold only the shards of its own layers): a stage that needs one of their tensors fails with an error naming
/// the missing files.
public struct GGUFShards: Sendable {
    /// The first shard: its metadata describes the model.
    public let first: GGUFFile
    /// Every shard present, in order.
    public let files: [GGUFFile]
    /// The paths of the shards that are not present.
    public let missing: [String]

    /// `(prefix, count)` when `path` is named like a shard (`PREFIX-00001-of-00003.gguf`).
    static func shardName(_ path: String) -> (prefix: String, number: Int, count: Int)? {
        guard path.hasSuffix(".gguf") else { return nil }
        let stem = path.dropLast(5)
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[parts.count - 2] == "of",
              let number = Int(parts[parts.count - 3]), let count = Int(parts[parts.count - 1]),
              parts[parts.count - 3].count == 5, parts[parts.count - 1].count == 5 else { return nil }
        return (parts.dropLast(3).joined(separator: "-"), number, count)
    }

    /// The path of shard `number` (1-based) of `count`.
    static func shardPath(prefix: String, number: Int, count: Int) -> String {
        func five(_ n: Int) -> String { String(repeating: "0", count: max(0, 5 - String(n).count)) + String(n) }
        return "\(prefix)-\(five(number))-of-\(five(count)).gguf"
    }

    /// Opens `first` and, when it is the first of several shards, every other shard that exists.
    public init(first: GGUFFile) throws(ModelFileError) {
        self.first = first
        guard let count = first.metadata["split.count"]?.int, count > 1 else {
            files = [first]
            missing = []
            return
        }
        let number = first.metadata["split.no"]?.int ?? 0
        guard number == 0, let name = Self.shardName(first.path), name.number == 1, name.count == count else {
            let firstPath = Self.shardName(first.path).map { Self.shardPath(prefix: $0.prefix, number: 1, count: count) }
            throw ModelFileError(file: first.path, location: "key split.no",
                                 problem: "this is shard \(number + 1) of \(count) of a split model named like NAME-00001-of-NNNNN.gguf; "
                                     + "open its first shard" + (firstPath.map { " (\($0))" } ?? " under its original name"))
        }
        var files = [first], missing: [String] = []
        for n in 2...count {
            let path = Self.shardPath(prefix: name.prefix, number: n, count: count)
            guard FileManager.default.fileExists(atPath: path) else {
                missing.append(path)
                continue
            }
            let shard = try GGUFFile(path: path)
            guard shard.metadata["split.no"]?.int == n - 1, shard.metadata["split.count"]?.int == count else {
                throw ModelFileError(file: path, location: "key split.no",
                                     problem: "expected shard \(n) of \(count) (split.no \(n - 1), split.count \(count))")
            }
            for tensor in shard.tensorNames where files.contains(where: { $0.tensors[tensor] != nil }) {
                throw ModelFileError(file: path, location: "tensor \(tensor)", problem: "also stored in another shard")
            }
            files.append(shard)
        }
        if missing.isEmpty, let expected = first.metadata["split.tensors.count"]?.int {
            let found = files.reduce(0) { $0 + $1.tensors.count }
            guard found == expected else {
                throw ModelFileError(file: first.path, location: "key split.tensors.count",
                                     problem: "the shards hold \(found) tensors, the first shard says \(expected)")
            }
        }
        self.files = files
        self.missing = missing
    }

    /// The model configuration: the first shard's metadata, with what the model has read from every present shard.
    public func modelConfig() throws(ModelFileError) -> ModelConfig { try first.modelConfig(shards: files) }

    /// The tensors of every present shard as one `TensorStore`; a tensor that is not found names the missing shards.
    public func tensorStore() -> TensorStore {
        var stored: [String: StoredTensor] = [:]
        for file in files {
            for (name, tensor) in file.tensorStore().tensors { stored[name] = tensor }
        }
        return TensorStore(source: first.path, tensors: stored, owners: files, missingSources: missing)
    }
}

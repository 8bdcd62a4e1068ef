/// A problem with a model file: which file, where in it, and what is wrong.
///
/// Every reader in Brigade reports bad input with this error instead of crashing: wrong magic, truncated data,
/// offsets or sizes past the end, unknown types, absurd counts, missing or mis-shaped tensors.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    /// The file (or directory) that was being read.
    public var file: String
    /// Where the problem is: `"offset 1234"`, `"tensor blk.0.attn_q.weight"`, `"key llama.block_count"`, ….
    public var location: String?
    /// What is wrong, phrased so the user knows what to fix.
    public var problem: String

    public init(file: String, location: String? = nil, problem: String) {
        self.file = file
        self.location = location
        self.problem = problem
    }

    public var description: String {
        if let location { return "\(file): \(location): \(problem)" }
        return "\(file): \(problem)"
    }
}

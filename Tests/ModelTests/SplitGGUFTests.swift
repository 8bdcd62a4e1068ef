import Foundation
import Model
import Testing

/// Models split by llama.cpp's `gguf-split` layout (`NAME-0000k-of-0000n.gguf`; the tiny `f32_split` model is three
/// shards written by gguf-py's split writer): opened from the first shard, whole or with shards missing.
@Suite struct SplitGGUFTests {
    static func shards() throws -> [String] {
        let first = try TinyModelTests.modelPath("f32_split")
        return (1...3).map { first.replacingOccurrences(of: "-00001-of-", with: "-0000\($0)-of-") }
    }

    /// A folder holding copies of the shards numbered `kept` (1-based), deleted after `body`.
    static func withShards<R>(_ kept: [Int], _ body: (String) throws -> R) throws -> R {
        let directory = NSTemporaryDirectory() + "brigade-split-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (i, shard) in try shards().enumerated() where kept.contains(i + 1) {
            try FileManager.default.copyItem(atPath: shard, toPath: directory + "/" + (shard as NSString).lastPathComponent)
        }
        return try body(directory + "/model-00001-of-00003.gguf")
    }

    @Test func theShardsTogetherAreTheWholeModel() throws {
        let split = try ModelWeights.open(try Self.shards()[0])
        let whole = try ModelWeights.open(try TinyModelTests.modelPath("f32"))
        #expect(split.config == whole.config)
        #expect(Set(split.store.tensors.keys) == Set(whole.store.tensors.keys))
        for (name, tensor) in whole.store.tensors {
            let other = try #require(split.store.tensors[name])
            var a = [Float](repeating: 0, count: tensor.columns), b = a
            a.withUnsafeMutableBufferPointer { tensor.matrix.dequantizeRow(tensor.rows - 1, into: $0.baseAddress!) }
            b.withUnsafeMutableBufferPointer { other.matrix.dequantizeRow(other.rows - 1, into: $0.baseAddress!) }
            #expect(a == b, "\(name)")
        }
    }

    /// A host holding only the shards of its own layers runs them; a stage that needs a missing shard's tensors says
    /// which files are missing.
    @Test func aStageNeedsOnlyTheShardsOfItsLayers() throws {
        try Self.withShards([1, 2]) { first in
            let weights = try ModelWeights.open(first)
            _ = try weights.stage(layers: 0..<1)
            do {
                _ = try weights.stage(layers: 2..<3)
                Issue.record("a stage whose tensors are in a missing shard was built")
            } catch let error as ModelFileError {
                #expect(error.problem.contains("model-00003-of-00003.gguf"), "\(error)")
                #expect(error.problem.contains("not present"), "\(error)")
            }
        }
    }

    @Test func openingAnotherShardThanTheFirstIsExplained() throws {
        let second = try Self.shards()[1]
        do {
            _ = try ModelWeights.open(second)
            Issue.record("the second shard opened as a model")
        } catch {
            #expect(error.problem.contains("shard 2 of 3"), "\(error)")
            #expect(error.problem.contains("model-00001-of-00003.gguf"), "\(error)")
        }
    }
}

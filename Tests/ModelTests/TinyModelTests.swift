import Foundation
import Kernels
import Model
import Testing

/// Tiny random Llama models in every weight encoding and both file layouts, written by
/// `scripts/testdata/tiny_models.py`, against the numpy reference (`scripts/reference/llama_reference.py`).
@Suite struct TinyModelTests {
    struct Manifest: Decodable {
        struct Entry: Decodable {
            let name: String
            let format: String
            let path: String
            let weight_type: String
        }
        let models: [Entry]
    }

    struct Reference: Decodable {
        struct Sequence: Decodable {
            let ids: [Int32]
            let logits: [[Float]]
        }
        let sequences: [Sequence]
    }

    struct Dequant: Decodable {
        struct Tensor: Decodable {
            let name: String
            let first_values: [Float]
        }
        let tensors: [Tensor]
    }

    static let root = TestData.directory + "/tiny"
    static let modelNames: [String] = {
        guard let data = FileManager.default.contents(atPath: root + "/manifest.json"),
              let manifest = try? JSONDecoder().decode(Manifest.self, from: data) else { return ["manifest.json missing"] }
        return manifest.models.map(\.name)
    }()

    static func load<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: try TestData.require(path))))
    }

    static func modelPath(_ name: String) throws -> String {
        let manifest = try load(Manifest.self, root + "/manifest.json")
        guard let entry = manifest.models.first(where: { $0.name == name }) else { throw TestData.MissingTestData(path: name) }
        return root + "/" + entry.path
    }

    /// Every position's logits, by feeding the sequence one token at a time (decode steps over the paged cache),
    /// plus the last position's logits from one whole-sequence prefill, against the reference.
    @Test(arguments: modelNames)
    func logitsMatchReference(name: String) throws {
        let weights = try ModelWeights.open(try Self.modelPath(name))
        let stage = try weights.stage(precision: .f32)
        let reference = try Self.load(Reference.self, Self.root + "/\(name)/reference.json")
        let config = weights.config
        var worst: Float = 0
        for sequence in reference.sequences {
            let n = sequence.ids.count
            let table = (0..<Int32((n + 3) / 4)).map { 20 - $0 }  // non-contiguous, descending block ids
            let cache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: 4, blockCount: 21, kvDim: config.kvDim)
            for position in 0..<n {
                let chunk = SequenceChunk(startPosition: position, tokenCount: 1, blockTable: table, wantsLogits: true)
                guard case .logits(let logits) = try stage.forward(batch: [chunk], tokens: [sequence.ids[position]], cache: cache) else {
                    Issue.record("no logits"); return
                }
                for (a, b) in zip(logits, sequence.logits[position]) { worst = max(worst, abs(a - b)) }
            }
            let prefillCache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: 4, blockCount: 21, kvDim: config.kvDim)
            let whole = SequenceChunk(startPosition: 0, tokenCount: n, blockTable: table, wantsLogits: true)
            guard case .logits(let last) = try stage.forward(batch: [whole], tokens: sequence.ids, cache: prefillCache) else {
                Issue.record("no logits"); return
            }
            for (a, b) in zip(last, sequence.logits[n - 1]) { worst = max(worst, abs(a - b)) }
        }
        #expect(worst < 1e-4, "\(name): max |Δlogit| = \(worst)")
    }

    /// The dequantizers are bit-exact against `gguf.quants.dequantize`.
    @Test(arguments: modelNames)
    func dequantizationIsBitExact(name: String) throws {
        let path = Self.root + "/\(name)/dequant.json"
        guard FileManager.default.fileExists(atPath: path) else { return }  // HF models have no quantized tensors
        let expected = try Self.load(Dequant.self, path)
        let weights = try ModelWeights.open(try Self.modelPath(name))
        for tensor in expected.tensors {
            let stored = try #require(weights.store.tensors[tensor.name])
            var values = [Float](repeating: 0, count: stored.columns)
            values.withUnsafeMutableBufferPointer { stored.matrix.dequantizeRow(0, into: $0.baseAddress!) }
            #expect(Array(values.prefix(tensor.first_values.count)) == tensor.first_values, "\(name) \(tensor.name)")
        }
    }

    /// A stage keeps working when its model file is truncated or deleted underneath it (its weights were copied out
    /// of the mapping); reading a truncated mapped page would otherwise kill the process with SIGBUS.
    @Test(arguments: ["q4_1", "hf_bf16"])
    func aStageSurvivesItsFileBeingTruncated(name: String) throws {
        let original = URL(fileURLWithPath: try Self.modelPath(name))
        let copy = URL(fileURLWithPath: NSTemporaryDirectory() + "brigade-truncate-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: original, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        let weights = try ModelWeights.open(copy.path)
        let stage = try weights.stage()
        let config = weights.config
        func run() throws -> [Float] {
            let cache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: 4, blockCount: 4, kvDim: config.kvDim)
            let chunk = SequenceChunk(startPosition: 0, tokenCount: 3, blockTable: [0], wantsLogits: true)
            guard case .logits(let logits) = try stage.forward(batch: [chunk], tokens: [1, 2, 3], cache: cache) else { return [] }
            return logits
        }
        let before = try run()
        // Empty every file of the model (a directory holds safetensors shards).
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: copy.path, isDirectory: &isDirectory)
        let files = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: copy.path).filter { $0.hasSuffix(".safetensors") }.map { copy.path + "/" + $0 }
            : [copy.path]
        for file in files { #expect(truncate(file, 0) == 0) }
        #expect(try run() == before, "the same logits after the file was emptied")
    }
}

import Foundation
import Kernels

/// A model's configuration and weights, from either a GGUF file or a Hugging Face checkpoint directory.
public struct ModelWeights: Sendable {
    public let config: ModelConfig
    public let store: TensorStore
    /// The GGUF file, when the model came from one (its metadata holds the tokenizer and chat template).
    public let gguf: GGUFFile?
    /// The Hugging Face checkpoint, when the model came from a directory.
    public let huggingFace: HuggingFaceModel?
    /// How stages built from these weights multiply (`.integer` unless set).
    public var precision: Precision = .integer

    /// Opens `path`: a `.gguf` file or a directory with `config.json` and safetensors weights.
    public static func open(_ path: String) throws(ModelFileError) -> ModelWeights {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFileError(file: path, problem: "no such file or directory")
        }
        if isDirectory.boolValue {
            let model = try HuggingFaceModel(directory: path)
            return ModelWeights(config: model.config, store: model.store, gguf: nil, huggingFace: model)
        }
        let shards = try GGUFShards(first: GGUFFile(path: path))
        return ModelWeights(config: try shards.modelConfig(), store: shards.tensorStore(), gguf: shards.first, huggingFace: nil)
    }

    /// The stage holding `layers`, with the embedding if it starts at layer 0 and the head if it ends at the last.
    /// The stage's weights are copied out of the file mapping (see `TensorStore.privatized`), so the model file may
    /// change or shrink while the stage runs.
    /// - Parameter precision: how the stage multiplies (default: `self.precision`).
    public func stage(layers: Range<Int>? = nil, precision: Precision? = nil) throws(ModelFileError) -> DecoderStage {
        let range = layers ?? 0..<config.layerCount
        let embedding = range.lowerBound == 0, head = range.upperBound == config.layerCount
        let local = store.privatized(store.tensors.keys.filter { name in
            if let layer = Self.layerIndex(name) { return range.contains(layer) }
            if name.hasPrefix("token_embd") { return embedding || (head && config.tiedEmbeddings) }
            return head && name.hasPrefix("output")
        }, precision: precision ?? self.precision)
        return try DecoderStage(config: config, store: local, layers: range, embedding: embedding, head: head)
    }

    /// `3` for `blk.3.attn_q.weight`.
    static func layerIndex(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        return Int(name.dropFirst(4).prefix { $0.isNumber })
    }
}

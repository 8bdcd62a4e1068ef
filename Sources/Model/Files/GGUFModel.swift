import Kernels

extension GGUFFile {
    /// Reads a metadata value, with a typed error naming the key when it is missing.
    func required(_ key: String) throws(ModelFileError) -> GGUFValue {
        guard let value = metadata[key] else {
            throw ModelFileError(file: path, location: "key \(key)", problem: "missing metadata key")
        }
        return value
    }

    func requiredInt(_ key: String) throws(ModelFileError) -> Int {
        let value = try required(key)
        guard let int = value.int else {
            throw ModelFileError(file: path, location: "key \(key)", problem: "expected an integer, found \(value)")
        }
        return int
    }

    /// The Llama-family configuration described by this file's metadata.
    public func llamaConfig() throws(ModelFileError) -> LlamaConfig {
        guard let arch = metadata["general.architecture"]?.string else {
            throw ModelFileError(file: path, location: "key general.architecture", problem: "missing; not a model file?")
        }
        let supported = ["llama", "qwen2", "mistral"]
        guard supported.contains(arch) else {
            throw ModelFileError(file: path, location: "key general.architecture",
                                 problem: "architecture \"\(arch)\" is not supported (Brigade runs \(supported.joined(separator: ", ")))")
        }
        let hidden = try requiredInt("\(arch).embedding_length")
        let heads = try requiredInt("\(arch).attention.head_count")
        let kvHeads = metadata["\(arch).attention.head_count_kv"]?.int ?? heads
        let headDim = metadata["\(arch).attention.key_length"]?.int ?? (heads > 0 ? hidden / heads : 0)
        let embedding = tensors["token_embd.weight"]
        let vocab = metadata["\(arch).vocab_size"]?.int ?? metadata["tokenizer.ggml.tokens"]?.array?.count
            ?? embedding?.shape.last ?? 0
        let config = LlamaConfig(
            architecture: arch,
            layerCount: try requiredInt("\(arch).block_count"),
            hiddenSize: hidden,
            intermediateSize: try requiredInt("\(arch).feed_forward_length"),
            headCount: heads,
            kvHeadCount: kvHeads,
            headDim: headDim,
            vocabSize: vocab,
            contextLength: metadata["\(arch).context_length"]?.int ?? 2048,
            ropeTheta: metadata["\(arch).rope.freq_base"]?.double ?? 10000,
            rmsNormEps: Float(metadata["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5),
            ropePairing: arch == "qwen2" ? .halves : .adjacent,
            tiedEmbeddings: tensors["output.weight"] == nil,
            hasQKVBias: tensors["blk.0.attn_q.bias"] != nil
        )
        if let ropeDims = metadata["\(arch).rope.dimension_count"]?.int, ropeDims != headDim {
            throw ModelFileError(file: path, location: "key \(arch).rope.dimension_count",
                                 problem: "partial rotary embeddings (\(ropeDims) of \(headDim) dimensions) are not supported")
        }
        try config.validate(file: path)
        return config
    }

    /// All tensors as a `TensorStore` (GGUF names are already canonical).
    public func tensorStore() -> TensorStore {
        var stored: [String: StoredTensor] = [:]
        for (name, info) in tensors {
            let columns = info.shape[0]
            let rows = info.elementCount / columns
            let matrix = WeightMatrix(type: info.type, rows: rows, columns: columns, base: base + info.fileOffset)
            stored[name] = StoredTensor(name: name, matrix: matrix)
        }
        return TensorStore(source: path, tensors: stored, owners: [self])
    }
}

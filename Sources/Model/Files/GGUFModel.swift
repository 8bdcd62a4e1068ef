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

    /// The model configuration described by this file's metadata: the keys every architecture shares
    /// (`ARCH.block_count`, `ARCH.embedding_length`, …), then the architecture's own (`Architecture.configure`).
    public func modelConfig() throws(ModelFileError) -> ModelConfig {
        guard let name = metadata["general.architecture"]?.string else {
            throw ModelFileError(file: path, location: "key general.architecture", problem: "missing; not a model file?")
        }
        guard let architecture = Architecture(rawValue: name) else {
            throw ModelFileError(file: path, location: "key general.architecture",
                                 problem: "architecture \"\(name)\" is not supported (Brigade runs \(Architecture.supportedList))")
        }
        let arch = name
        let hidden = try requiredInt("\(arch).embedding_length")
        let heads = try requiredInt("\(arch).attention.head_count")
        let kvHeads = metadata["\(arch).attention.head_count_kv"]?.int ?? heads
        let headDim = metadata["\(arch).attention.key_length"]?.int ?? (heads > 0 ? hidden / heads : 0)
        if let valueDim = metadata["\(arch).attention.value_length"]?.int, valueDim != headDim {
            throw ModelFileError(file: path, location: "key \(arch).attention.value_length",
                                 problem: "value heads of \(valueDim) dimensions differ from key heads of \(headDim) (not supported)")
        }
        let embedding = tensors["token_embd.weight"]
        let vocab = metadata["\(arch).vocab_size"]?.int ?? metadata["tokenizer.ggml.tokens"]?.array?.count
            ?? embedding?.shape.last ?? 0
        var config = ModelConfig(
            architecture: architecture,
            layerCount: try requiredInt("\(arch).block_count"),
            hiddenSize: hidden,
            intermediateSize: try requiredInt("\(arch).feed_forward_length"),
            headCount: heads,
            kvHeadCount: kvHeads,
            headDim: headDim,
            vocabSize: vocab,
            contextLength: metadata["\(arch).context_length"]?.int ?? 2048,
            rmsNormEps: Float(metadata["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5),
            rope: RoPE(theta: metadata["\(arch).rope.freq_base"]?.double ?? 10000, pairing: .adjacent),
            tiedEmbeddings: tensors["output.weight"] == nil,
            hasQKVBias: tensors["blk.0.attn_q.bias"] != nil
        )
        if let ropeDims = metadata["\(arch).rope.dimension_count"]?.int, ropeDims != headDim {
            throw ModelFileError(file: path, location: "key \(arch).rope.dimension_count",
                                 problem: "partial rotary embeddings (\(ropeDims) of \(headDim) dimensions) are not supported")
        }
        if let scaling = metadata["\(arch).rope.scaling.type"]?.string, scaling != "none", architecture != .gemma3 {
            let factor = metadata["\(arch).rope.scaling.factor"]?.double ?? 1
            guard scaling == "linear" else {
                throw ModelFileError(file: path, location: "key \(arch).rope.scaling.type",
                                     problem: "RoPE scaling \"\(scaling)\" is not supported (Brigade reads linear and Llama 3's rope_freqs)")
            }
            config.rope.frequencyDivisors = Array(repeating: factor, count: headDim / 2)
        }
        try architecture.configure(&config, from: self)
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

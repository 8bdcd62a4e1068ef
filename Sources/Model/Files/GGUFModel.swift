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
    /// The shape is checked before anything is derived from it, so a hostile file gets an error, never a trap.
    /// - Parameter shards: every shard of a split model (`GGUFShards`), whose tensors decide what the model has
    ///   (an untied output head, Q/K/V biases, RoPE factors); nil: this file alone.
    public func modelConfig(shards: [GGUFFile]? = nil) throws(ModelFileError) -> ModelConfig {
        let source = GGUFModelSource(file: self, shards: shards ?? [self])
        let tensors = source.tensors
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
        try config.validate(file: path)
        if let scaling = metadata["\(arch).rope.scaling.type"]?.string, scaling != "none" {
            let factor = metadata["\(arch).rope.scaling.factor"]?.double ?? 1
            guard scaling == "linear" else {
                throw ModelFileError(file: path, location: "key \(arch).rope.scaling.type",
                                     problem: "RoPE scaling \"\(scaling)\" is not supported (Brigade reads linear and Llama 3's rope_freqs)")
            }
            if factor != 1 { config.rope.frequencyDivisors = Array(repeating: factor, count: headDim / 2) }
        }
        try architecture.configure(&config, from: source)
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

/// What an architecture reads to configure itself: the first file's metadata, and the tensors of every shard of the
/// model (a split model's `output.weight` or `rope_freqs.weight` may be in any shard).
struct GGUFModelSource {
    let file: GGUFFile
    /// Every tensor, with the shard that holds it.
    let tensors: [String: GGUFFile.TensorInfo]
    private let holders: [String: GGUFFile]

    init(file: GGUFFile, shards: [GGUFFile]) {
        self.file = file
        var tensors: [String: GGUFFile.TensorInfo] = [:], holders: [String: GGUFFile] = [:]
        for shard in shards {
            for (name, info) in shard.tensors {
                tensors[name] = info
                holders[name] = shard
            }
        }
        self.tensors = tensors
        self.holders = holders
    }

    /// The values of F32 tensor `name` (read unaligned: GGUF alignment may be as small as 1), or nil if it is absent.
    func floats(_ name: String) -> [Float]? {
        guard let info = tensors[name], info.type == .f32, let shard = holders[name] else { return nil }
        let base = shard.base + info.fileOffset
        return (0..<info.elementCount).map { base.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
    }
}

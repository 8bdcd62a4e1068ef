/// One architecture's decoder block: which tensors a layer reads and how it combines the shared layers
/// (`Layers/`: attention, feed-forward, norms). A new architecture is a new file in `Architectures/` with a type
/// conforming to this protocol and entries in `Architecture.layerType` and `Architecture.configure`.
protocol DecoderLayer: Sendable {
    /// Reads layer `layer`'s tensors from `store`, checking their shapes; registers the RoPE it uses in `ropes`.
    init(_ store: TensorStore, layer: Int, config: ModelConfig, ropes: inout [RoPE]) throws(ModelFileError)
    /// Runs the block on the hidden states `x` (`tokens × hidden`) of the batch in `context`.
    func run(_ x: inout [Float], _ context: LayerContext)
}

extension Architecture {
    /// The block every layer of this architecture runs.
    var layerType: any DecoderLayer.Type {
        switch self {
        case .llama, .mistral, .qwen2, .qwen3: return LlamaLayer.self
        case .gemma3: return Gemma3Layer.self
        }
    }

    /// What the token embeddings are multiplied by before the first layer (Gemma: √hidden), or nil.
    func embeddingScale(_ config: ModelConfig) -> Float? {
        self == .gemma3 ? Float(Double(config.hiddenSize).squareRoot()) : nil
    }

    /// Reads this architecture's own GGUF keys and tensors into `config` (the common keys are already in it).
    func configure(_ config: inout ModelConfig, from file: GGUFModelSource) throws(ModelFileError) {
        switch self {
        case .llama, .mistral: try LlamaLayer.configure(&config, from: file)
        case .qwen2, .qwen3: try LlamaLayer.configureQwen(&config, from: file)
        case .gemma3: try Gemma3Layer.configure(&config, from: file)
        }
    }
}

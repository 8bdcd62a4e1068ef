/// Gemma 3's block: RMS norms before *and after* attention and the feed-forward block, per-head Q/K norms, GeGLU
/// (GELU, tanh approximation), and five local sliding-window layers (RoPE base 10,000) for every global one:
/// `h = x + postAttentionNorm(attention(norm(x)))`, `x = h + postFFNNorm(ffn(ffnNorm(h)))`. The token embeddings are
/// scaled by √hidden (`Architecture.embeddingScale`) and the output head is tied to them. The GGUF norm weights
/// already include Gemma's `1 +`.
struct Gemma3Layer: DecoderLayer {
    let attentionNorm: RMSNorm
    let attention: AttentionBlock
    let postAttentionNorm: RMSNorm
    let ffnNorm: RMSNorm
    let ffn: FeedForward
    let postFFNNorm: RMSNorm

    init(_ store: TensorStore, layer: Int, config: ModelConfig, ropes: inout [RoPE]) throws(ModelFileError) {
        let p = "blk.\(layer).", d = config.hiddenSize, eps = config.rmsNormEps
        attentionNorm = try RMSNorm(store, p + "attn_norm.weight", count: d, eps: eps)
        attention = try AttentionBlock(store, layer: layer, config: config, ropes: &ropes)
        postAttentionNorm = try RMSNorm(store, p + "post_attention_norm.weight", count: d, eps: eps)
        ffnNorm = try RMSNorm(store, p + "ffn_norm.weight", count: d, eps: eps)
        ffn = try FeedForward(store, layer: layer, config: config, activation: .geluTanh)
        postFFNNorm = try RMSNorm(store, p + "post_ffw_norm.weight", count: d, eps: eps)
    }

    func run(_ x: inout [Float], _ context: LayerContext) {
        addInPlace(&x, postAttentionNorm(attention(attentionNorm(x), context)))
        addInPlace(&x, postFFNNorm(ffn(ffnNorm(x), tokens: context.tokens)))
    }

    /// `gemma3.attention.sliding_window` (required); the local RoPE base `gemma3.rope.freq_base_swa` (llama.cpp's
    /// default 10,000); the local layers from `gemma3.attention.sliding_window_pattern` (a period, default 6, or one
    /// flag per layer); the 27B model's attention scale `1/√(hidden/heads)` (llama.cpp's rule); optional final logit
    /// soft-capping. Linear RoPE scaling (read with the shared keys) applies to the global layers only.
    static func configure(_ config: inout ModelConfig, from source: GGUFModelSource) throws(ModelFileError) {
        let file = source.file
        config.rope.pairing = .halves
        config.hasQKNorm = true
        config.hasQKVBias = false
        let key = "gemma3.attention.sliding_window_pattern"
        func bad(_ value: GGUFValue) -> ModelFileError {
            ModelFileError(file: file.path, location: "key \(key)",
                           problem: "expected a period in 0...\(config.layerCount) or one flag per layer, found \(value)")
        }
        let localLayers: [Bool]
        switch file.metadata[key] {
        case nil: localLayers = SlidingWindow.layers(config.layerCount, pattern: 6)
        case let value?:
            if let period = value.int {
                guard (0...config.layerCount).contains(period) else { throw bad(value) }
                localLayers = SlidingWindow.layers(config.layerCount, pattern: period)
            } else if let items = value.array, items.count == config.layerCount {
                var flags: [Bool] = []
                for item in items {
                    guard let flag = item.bool else { throw bad(value) }
                    flags.append(flag)
                }
                localLayers = flags
            } else {
                throw bad(value)
            }
        }
        // A window as long as the context is no window: clamped, it also keeps the block arithmetic in range.
        let window = min(try file.requiredInt("gemma3.attention.sliding_window"), config.contextLength)
        let localTheta = file.metadata["gemma3.rope.freq_base_swa"]?.double ?? 10_000
        config.slidingWindow = SlidingWindow(window: window, localLayers: localLayers, localRopeTheta: localTheta)
        if config.layerCount == 62 { config.attentionScale = Float(1 / (Double(config.hiddenSize) / Double(config.headCount)).squareRoot()) }
        if let cap = file.metadata["gemma3.final_logit_softcapping"]?.double, cap > 0 { config.logitSoftcap = Float(cap) }
    }
}

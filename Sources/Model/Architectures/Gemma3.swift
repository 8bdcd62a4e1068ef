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

    /// `gemma3.attention.sliding_window` (required), the local RoPE base (llama.cpp's fixed 10,000, or
    /// `gemma3.rope.local.freq_base`) and the 6-layer pattern (`gemma3.attention.sliding_window_pattern` if present).
    static func configure(_ config: inout ModelConfig, from file: GGUFFile) throws(ModelFileError) {
        config.rope.pairing = .halves
        config.hasQKNorm = true
        config.hasQKVBias = false
        let window = try file.requiredInt("gemma3.attention.sliding_window")
        let pattern = file.metadata["gemma3.attention.sliding_window_pattern"]?.int ?? 6
        let localTheta = file.metadata["gemma3.rope.local.freq_base"]?.double ?? 10_000
        config.slidingWindow = SlidingWindow(window: window, pattern: pattern, localRopeTheta: localTheta)
        if let factor = file.metadata["gemma3.rope.scaling.factor"]?.double, factor != 1 {
            let type = file.metadata["gemma3.rope.scaling.type"]?.string ?? "linear"
            guard type == "linear" else {
                throw ModelFileError(file: file.path, location: "key gemma3.rope.scaling.type",
                                     problem: "RoPE scaling \"\(type)\" is not supported (Brigade reads linear and llama3)")
            }
            config.rope.frequencyDivisors = Array(repeating: factor, count: config.headDim / 2)
        }
    }
}

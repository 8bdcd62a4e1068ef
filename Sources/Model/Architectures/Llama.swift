/// The pre-norm SwiGLU block of Llama 2/3, SmolLM, Mistral, Qwen2 (Q/K/V biases) and Qwen3 (per-head Q/K norms):
/// `x += attention(norm(x)); x += ffn(norm(x))`.
struct LlamaLayer: DecoderLayer {
    let attentionNorm: RMSNorm
    let attention: AttentionBlock
    let ffnNorm: RMSNorm
    let ffn: FeedForward

    init(_ store: TensorStore, layer: Int, config: ModelConfig, ropes: inout [RoPE]) throws(ModelFileError) {
        let p = "blk.\(layer)."
        attentionNorm = try RMSNorm(store, p + "attn_norm.weight", count: config.hiddenSize, eps: config.rmsNormEps)
        attention = try AttentionBlock(store, layer: layer, config: config, ropes: &ropes)
        ffnNorm = try RMSNorm(store, p + "ffn_norm.weight", count: config.hiddenSize, eps: config.rmsNormEps)
        ffn = try FeedForward(store, layer: layer, config: config, activation: .silu)
    }

    func run(_ x: inout [Float], _ context: LayerContext) {
        addInPlace(&x, attention(attentionNorm(x), context))
        addInPlace(&x, ffn(ffnNorm(x), tokens: context.tokens))
    }

    /// Llama and Mistral GGUFs: Q/K rows permuted by the converter (adjacent-pair RoPE) and, for Llama 3.1+, the
    /// RoPE frequency divisors in `rope_freqs.weight` (llama.cpp divides each pair's frequency by its factor, on top of
    /// any linear scaling).
    static func configure(_ config: inout ModelConfig, from source: GGUFModelSource) throws(ModelFileError) {
        config.rope.pairing = .adjacent
        if let factors = source.tensors["rope_freqs.weight"] {
            guard factors.elementCount == config.headDim / 2, let values = source.floats("rope_freqs.weight") else {
                throw ModelFileError(file: source.file.path, location: "tensor rope_freqs.weight",
                                     problem: "expected \(config.headDim / 2) F32 frequency factors, found \(factors.elementCount) \(factors.type)")
            }
            let linear = config.rope.frequencyDivisors
            config.rope.frequencyDivisors = values.enumerated().map { i, factor in Double(factor) * (linear?[i] ?? 1) }
        }
    }

    /// Qwen2 and Qwen3 GGUFs: NeoX (rotate-half) RoPE; Qwen2 has Q/K/V biases, Qwen3 per-head Q/K RMS norms.
    static func configureQwen(_ config: inout ModelConfig, from source: GGUFModelSource) throws(ModelFileError) {
        config.rope.pairing = .halves
        if config.architecture == .qwen3 {
            config.hasQKNorm = true
            guard source.tensors["blk.0.attn_q_norm.weight"] != nil else {
                throw ModelFileError(file: source.file.path, location: "tensor blk.0.attn_q_norm.weight", problem: "missing: qwen3 layers need Q/K norms")
            }
        }
    }
}

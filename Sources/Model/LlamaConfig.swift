/// How RoPE pairs the dimensions of a head it rotates.
public enum RoPEPairing: String, Sendable, Equatable {
    /// `(x[2i], x[2i+1])`: llama.cpp's "normal" mode, used by GGUF Llama files (whose Q/K weights the converter permuted).
    case adjacent
    /// `(x[i], x[i + d/2])`: GPT-NeoX style, used by Hugging Face checkpoints and by GGUF Qwen2.
    case halves
}

/// The shape and numerics of a Llama-family decoder (Llama 2/3, SmolLM, Mistral, Qwen2-style with QKV bias).
public struct LlamaConfig: Sendable, Equatable, CustomStringConvertible {
    public var architecture: String
    public var layerCount: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var vocabSize: Int
    public var contextLength: Int
    public var ropeTheta: Double
    public var rmsNormEps: Float
    public var ropePairing: RoPEPairing
    /// True when the output projection reuses the token embedding (no separate `output.weight`).
    public var tiedEmbeddings: Bool
    /// True when Q/K/V projections have biases (Qwen2).
    public var hasQKVBias: Bool

    public var qDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }

    public var description: String {
        "\(architecture): \(layerCount) layers, hidden \(hiddenSize), ffn \(intermediateSize), heads \(headCount)/\(kvHeadCount)×\(headDim), "
            + "vocab \(vocabSize), context \(contextLength), rope θ \(ropeTheta) (\(ropePairing.rawValue)), eps \(rmsNormEps)"
            + (tiedEmbeddings ? ", tied embeddings" : "") + (hasQKVBias ? ", QKV bias" : "")
    }

    /// Checks that the numbers are consistent and sane; `file` names the source in the error.
    func validate(file: String) throws(ModelFileError) {
        func check(_ ok: Bool, _ problem: String) throws(ModelFileError) {
            if !ok { throw ModelFileError(file: file, location: "model configuration", problem: problem) }
        }
        try check((1...1024).contains(layerCount), "layer count \(layerCount) is out of range 1...1024")
        try check((1...1 << 16).contains(hiddenSize), "hidden size \(hiddenSize) is out of range")
        try check((1...1 << 18).contains(intermediateSize), "intermediate size \(intermediateSize) is out of range")
        try check((1...1024).contains(headCount), "head count \(headCount) is out of range")
        try check(kvHeadCount >= 1 && headCount % kvHeadCount == 0,
                  "head count \(headCount) is not a multiple of the KV head count \(kvHeadCount)")
        try check(headDim >= 2 && headDim % 2 == 0 && headDim <= 1024, "head dimension \(headDim) must be even and at most 1024")
        try check((1...1 << 22).contains(vocabSize), "vocabulary size \(vocabSize) is out of range")
        try check((1...1 << 22).contains(contextLength), "context length \(contextLength) is out of range")
        try check(ropeTheta > 0 && ropeTheta.isFinite, "rope theta \(ropeTheta) must be positive")
        try check(rmsNormEps > 0 && rmsNormEps < 1, "RMS norm epsilon \(rmsNormEps) must be in (0, 1)")
    }
}

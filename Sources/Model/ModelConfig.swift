import Foundation

/// The decoder architectures Brigade runs. Each has a file in `Architectures/` saying how its blocks differ from the
/// shared layers; the raw value is the GGUF `general.architecture` name.
public enum Architecture: String, Sendable, CaseIterable, Equatable {
    case llama, mistral, qwen2, qwen3, gemma3

    /// `llama, mistral, …`, for error messages.
    public static var supportedList: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// How RoPE pairs the dimensions of a head it rotates.
public enum RoPEPairing: String, Sendable, Equatable, Hashable {
    /// `(x[2i], x[2i+1])`: llama.cpp's "normal" mode, used by GGUF Llama files (whose Q/K weights the converter permuted).
    case adjacent
    /// `(x[i], x[i + d/2])`: GPT-NeoX style, used by Hugging Face checkpoints and by GGUF Qwen2/Qwen3/Gemma 3.
    case halves
}

/// The rotary position embedding of one attention layer: `angle(p, i) = p · θ^(-2i/d) / divisor[i]`.
public struct RoPE: Sendable, Equatable, Hashable {
    public var theta: Double
    public var pairing: RoPEPairing
    /// Per rotated pair, what its frequency is divided by (Llama 3.1+ `rope_freqs.weight` or HF `rope_scaling` of
    /// type `llama3` / `linear`); nil for plain RoPE.
    public var frequencyDivisors: [Double]?

    public init(theta: Double, pairing: RoPEPairing, frequencyDivisors: [Double]? = nil) {
        self.theta = theta
        self.pairing = pairing
        self.frequencyDivisors = frequencyDivisors
    }

    /// `θ^(-2i/d) / divisor[i]` for each of the `headDim / 2` pairs, in double precision (like the numpy reference).
    public func inverseFrequencies(headDim: Int) -> [Double] {
        (0..<headDim / 2).map { i in
            1 / pow(theta, Double(2 * i) / Double(headDim)) / (frequencyDivisors?[i] ?? 1)
        }
    }

    /// Llama 3's frequency-dependent scaling (HF `rope_scaling.rope_type = "llama3"`): wavelengths shorter than
    /// `originalContext / highFrequencyFactor` keep their frequency, longer than `originalContext / lowFrequencyFactor`
    /// are divided by `factor`, and those between are interpolated smoothly.
    public static func llama3Divisors(headDim: Int, theta: Double, factor: Double, lowFrequencyFactor: Double,
                                      highFrequencyFactor: Double, originalContext: Double) -> [Double] {
        let lowWavelength = originalContext / lowFrequencyFactor, highWavelength = originalContext / highFrequencyFactor
        return (0..<headDim / 2).map { i in
            let frequency = 1 / pow(theta, Double(2 * i) / Double(headDim))
            let wavelength = 2 * Double.pi / frequency
            if wavelength < highWavelength { return 1 }
            if wavelength > lowWavelength { return factor }
            let smooth = (originalContext / wavelength - lowFrequencyFactor) / (highFrequencyFactor - lowFrequencyFactor)
            let scaled = (1 - smooth) * frequency / factor + smooth * frequency
            return frequency / scaled
        }
    }
}

/// Gemma 3's interleaved local attention: most layers see only the last `window` positions, with their own RoPE base.
public struct SlidingWindow: Sendable, Equatable {
    /// How many positions a token of a local layer attends to, itself included.
    public var window: Int
    /// Which layers are local (sliding-window); the others attend to the whole sequence.
    public var localLayers: [Bool]
    /// The RoPE base of the local layers.
    public var localRopeTheta: Double

    /// llama.cpp's rule for a period `pattern`: the last layer of every period is global, the others local
    /// (`pattern` 0: every layer local).
    public static func layers(_ count: Int, pattern: Int) -> [Bool] {
        (0..<count).map { pattern == 0 || $0 % pattern < pattern - 1 }
    }
}

/// The shape and numerics of a decoder-only transformer of one of the supported architectures.
public struct ModelConfig: Sendable, Equatable, CustomStringConvertible {
    public var architecture: Architecture
    public var layerCount: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var vocabSize: Int
    public var contextLength: Int
    public var rmsNormEps: Float
    /// The RoPE of every layer (of the global layers, with a sliding window).
    public var rope: RoPE
    /// True when the output projection reuses the token embedding (no separate `output.weight`).
    public var tiedEmbeddings: Bool
    /// True when Q/K/V projections have biases (Qwen2).
    public var hasQKVBias: Bool
    /// True when queries and keys are RMS-normalized per head before RoPE (Qwen3, Gemma 3).
    public var hasQKNorm: Bool = false
    /// Local attention layers (Gemma 3), if any.
    public var slidingWindow: SlidingWindow? = nil
    /// The factor scores are scaled by before the softmax (nil: `1/√headDim`).
    public var attentionScale: Float? = nil
    /// Final logits become `cap · tanh(logits / cap)` when set (Gemma 2-style soft-capping).
    public var logitSoftcap: Float? = nil

    public var qDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }

    /// Attention of layer `layer`: its RoPE and how many past positions it sees (nil: all of them).
    public func attention(layer: Int) -> (rope: RoPE, window: Int?) {
        guard let sliding = slidingWindow, sliding.localLayers[layer] else { return (rope, nil) }
        var local = rope
        local.theta = sliding.localRopeTheta
        local.frequencyDivisors = nil
        return (local, sliding.window)
    }

    public var description: String {
        var text = "\(architecture.rawValue): \(layerCount) layers, hidden \(hiddenSize), ffn \(intermediateSize), "
            + "heads \(headCount)/\(kvHeadCount)×\(headDim), vocab \(vocabSize), context \(contextLength), "
            + "rope θ \(rope.theta) (\(rope.pairing.rawValue)\(rope.frequencyDivisors == nil ? "" : ", scaled")), eps \(rmsNormEps)"
        if tiedEmbeddings { text += ", tied embeddings" }
        if hasQKVBias { text += ", QKV bias" }
        if hasQKNorm { text += ", QK norm" }
        if let sliding = slidingWindow {
            text += ", sliding window \(sliding.window) (θ \(sliding.localRopeTheta)) on \(sliding.localLayers.filter { $0 }.count) of \(layerCount) layers"
        }
        if let logitSoftcap { text += ", logit soft-cap \(logitSoftcap)" }
        return text
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
        try check(rope.theta > 0 && rope.theta.isFinite, "rope theta \(rope.theta) must be positive")
        if let divisors = rope.frequencyDivisors {
            try check(divisors.count == headDim / 2, "RoPE frequency factors have \(divisors.count) values, expected \(headDim / 2)")
            try check(divisors.allSatisfy { $0 > 0 && $0.isFinite }, "RoPE frequency factors must be positive and finite")
        }
        try check(rmsNormEps > 0 && rmsNormEps < 1, "RMS norm epsilon \(rmsNormEps) must be in (0, 1)")
        if let sliding = slidingWindow {
            try check(sliding.window >= 1, "sliding window \(sliding.window) must be positive")
            try check(sliding.localLayers.count == layerCount, "the sliding window pattern covers \(sliding.localLayers.count) of \(layerCount) layers")
            try check(sliding.localRopeTheta > 0 && sliding.localRopeTheta.isFinite, "local rope theta must be positive")
        }
    }
}

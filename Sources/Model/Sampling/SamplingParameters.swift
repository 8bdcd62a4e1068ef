/// How to choose each next token, with OpenAI / vLLM semantics.
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// 0 selects greedy decoding (argmax after penalties).
    public var temperature: Float = 1
    /// Keep only the `topK` most likely tokens; 0 disables.
    public var topK: Int = 0
    /// Keep the smallest set of tokens whose probability mass reaches `topP`; 1 disables.
    public var topP: Float = 1
    /// Drop tokens whose probability is below `minP` × the top token's probability; 0 disables.
    public var minP: Float = 0
    /// Divides positive (multiplies negative) logits of tokens seen in the prompt or output; 1 disables.
    public var repetitionPenalty: Float = 1
    /// Subtracted once from the logit of every token already generated; 0 disables.
    public var presencePenalty: Float = 0
    /// Subtracted from a token's logit per time it was already generated; 0 disables.
    public var frequencyPenalty: Float = 0
    /// Same seed, same prompt, same parameters → same output. Nil draws a random seed.
    public var seed: UInt64?
    /// Number of alternatives (top log-probs) to report per generated token; nil reports no log-probs.
    public var logprobs: Int?

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0, repetitionPenalty: Float = 1,
                presencePenalty: Float = 0, frequencyPenalty: Float = 0, seed: UInt64? = nil, logprobs: Int? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.seed = seed
        self.logprobs = logprobs
    }

    /// Greedy decoding.
    public static let greedy = SamplingParameters(temperature: 0)

    /// Checks every value's range; the error names the parameter and the accepted range.
    public func validate() throws(SamplingError) {
        func check(_ ok: Bool, _ name: String, _ rule: String, _ value: Any) throws(SamplingError) {
            if !ok { throw SamplingError(parameter: name, message: "\(name) must be \(rule), got \(value)") }
        }
        try check(temperature >= 0 && temperature.isFinite, "temperature", "a finite number >= 0", temperature)
        try check(topK >= 0, "top_k", ">= 0 (0 disables)", topK)
        try check(topP > 0 && topP <= 1, "top_p", "in (0, 1]", topP)
        try check(minP >= 0 && minP <= 1, "min_p", "in [0, 1]", minP)
        try check(repetitionPenalty > 0 && repetitionPenalty.isFinite, "repetition_penalty", "a finite number > 0", repetitionPenalty)
        try check(abs(presencePenalty) <= 2, "presence_penalty", "in [-2, 2]", presencePenalty)
        try check(abs(frequencyPenalty) <= 2, "frequency_penalty", "in [-2, 2]", frequencyPenalty)
        try check((logprobs ?? 0) >= 0 && (logprobs ?? 0) <= 20, "logprobs", "in [0, 20]", logprobs ?? 0)
    }
}

/// An out-of-range sampling parameter.
public struct SamplingError: Error, CustomStringConvertible, Equatable {
    /// The parameter's API name (`top_p`, …).
    public var parameter: String
    public var message: String
    public var description: String { message }
}

/// A deterministic, seedable random number generator (xoshiro256**, seeded through SplitMix64).
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The generator for draw number `position` of the stream `seed`: a function of the two values alone, so a
    /// request's `n`-th token is drawn from the same random numbers however the earlier ones were produced (decoded
    /// one by one, or replayed as a prompt after a pipeline restart).
    public init(seed: UInt64, position: Int) {
        var z = seed ^ (UInt64(truncatingIfNeeded: position) &* 0xD1B5_4A32_D192_ED03)
        z = (z ^ (z >> 32)) &* 0xD6E8_FEB8_6659_FD93
        self.init(seed: z ^ (z >> 32))
    }

    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// A uniform double in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool {
        a.state.0 == b.state.0 && a.state.1 == b.state.1 && a.state.2 == b.state.2 && a.state.3 == b.state.3
    }
}

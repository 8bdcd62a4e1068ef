/// The log-probability of one token.
public struct TokenLogprob: Sendable, Equatable, Codable {
    public var tokenID: Int32
    public var logprob: Double
    public init(tokenID: Int32, logprob: Double) {
        self.tokenID = tokenID
        self.logprob = logprob
    }
}

/// One sampled token with its log-probability and the top alternatives, all under the model's raw distribution
/// (log-softmax of the logits before penalties, temperature and filtering, as vLLM reports them). Log-probs are
/// computed only when the sampling parameters ask for them (`logprobs` set, even to 0); otherwise `logprob` is NaN.
public struct SampledToken: Sendable, Equatable {
    public var tokenID: Int32
    public var logprob: Double
    /// The `logprobs` most likely tokens, most likely first (ties by lower id); empty when not requested.
    public var top: [TokenLogprob]

    public init(tokenID: Int32, logprob: Double, top: [TokenLogprob] = []) {
        self.tokenID = tokenID
        self.logprob = logprob
        self.top = top
    }
}

import Grammar

/// Picks next tokens from logits rows. Stateless: penalties read the token counts passed in, randomness comes from the
/// caller's per-request generator, so the same inputs always give the same token on any rank.
public enum Sampler {
    /// Samples from `logits` (one vocabulary row).
    /// - Parameters:
    ///   - seen: tokens of the prompt and output so far (for the repetition penalty).
    ///   - generatedCounts: how often each token was generated so far (presence / frequency penalties).
    ///   - suppressed: tokens that must not be chosen (e.g. stop tokens before `min_tokens`).
    ///   - allowed: when set, the only tokens that may be chosen (a grammar's mask): the others' scores are -infinity
    ///     before temperature and filtering, so the draw is from the model's distribution restricted to them.
    public static func sample(
        logits: UnsafeBufferPointer<Float>, parameters p: SamplingParameters, seen: Set<Int32>,
        generatedCounts: [Int32: Int], suppressed: Set<Int32> = [], allowed: TokenMask? = nil,
        generator: inout SeededGenerator
    ) -> SampledToken {
        let vocab = logits.count
        var scores = [Float](logits)
        if p.repetitionPenalty != 1 {
            for token in seen where Int(token) < vocab {
                let i = Int(token)
                scores[i] = scores[i] > 0 ? scores[i] / p.repetitionPenalty : scores[i] * p.repetitionPenalty
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (token, count) in generatedCounts where Int(token) < vocab {
                scores[Int(token)] -= p.presencePenalty + p.frequencyPenalty * Float(count)
            }
        }
        for token in suppressed where Int(token) < vocab { scores[Int(token)] = -.infinity }
        allowed?.apply(to: &scores)
        let chosen: Int
        if p.temperature == 0 {
            chosen = argmax(scores)
        } else {
            chosen = draw(scores: scores, parameters: p, generator: &generator)
        }
        // The log-softmax costs an exp per vocabulary entry: compute it only for requests that asked for log-probs.
        guard let k = p.logprobs else { return SampledToken(tokenID: Int32(chosen), logprob: .nan) }
        let logprobs = logSoftmax(logits)
        return SampledToken(tokenID: Int32(chosen), logprob: logprobs[chosen], top: topK(logprobs, k))
    }

    /// `log_softmax(logits)` in double precision.
    public static func logSoftmax(_ logits: UnsafeBufferPointer<Float>) -> [Double] {
        var maximum = -Double.infinity
        for x in logits { maximum = max(maximum, Double(x)) }
        var total = 0.0
        for x in logits { total += exp(Double(x) - maximum) }
        let logTotal = maximum + log(total)
        return logits.map { Double($0) - logTotal }
    }

    /// Index of the largest value; the lowest index among ties.
    static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in 1..<values.count where values[i] > values[best] { best = i }
        return best
    }

    /// The `k` largest entries, largest first, ties broken by lower index.
    static func topK(_ values: [Double], _ k: Int) -> [TokenLogprob] {
        guard k > 0 else { return [] }
        var best: [(Int, Double)] = []
        for (i, v) in values.enumerated() where best.count < k || v > best[best.count - 1].1 {
            var at = best.count
            while at > 0 && best[at - 1].1 < v { at -= 1 }
            best.insert((i, v), at: at)
            if best.count > k { best.removeLast() }
        }
        return best.map { TokenLogprob(tokenID: Int32($0.0), logprob: $0.1) }
    }

    /// Temperature, then top-k, top-p and min-p filtering, then one draw from the remaining distribution.
    static func draw(scores: [Float], parameters p: SamplingParameters, generator: inout SeededGenerator) -> Int {
        let inverseT = 1 / Double(p.temperature)
        var maximum = -Double.infinity
        for s in scores { maximum = max(maximum, Double(s) * inverseT) }
        // Candidates sorted by probability (descending), ties by token id, so the order is fully deterministic.
        var candidates: [(id: Int, weight: Double)] = scores.enumerated().map { ($0.offset, exp(Double($0.element) * inverseT - maximum)) }
        candidates.sort { $0.weight != $1.weight ? $0.weight > $1.weight : $0.id < $1.id }
        if p.topK > 0 && p.topK < candidates.count { candidates.removeSubrange(p.topK...) }
        var total = candidates.reduce(0) { $0 + $1.weight }
        if p.minP > 0 {
            let threshold = Double(p.minP) * candidates[0].weight
            candidates.removeAll { $0.weight < threshold }
            total = candidates.reduce(0) { $0 + $1.weight }
        }
        if p.topP < 1 {
            var mass = 0.0
            var keep = candidates.count
            for (i, c) in candidates.enumerated() {
                mass += c.weight / total
                if mass >= Double(p.topP) {
                    keep = i + 1
                    break
                }
            }
            candidates.removeSubrange(keep...)
            total = candidates.reduce(0) { $0 + $1.weight }
        }
        let target = generator.nextUnit() * total
        var cumulative = 0.0
        for c in candidates {
            cumulative += c.weight
            if target < cumulative { return c.id }
        }
        return candidates[candidates.count - 1].id
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

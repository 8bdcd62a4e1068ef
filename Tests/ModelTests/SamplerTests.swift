import Model
import Testing

/// Sampling statistics, penalties and seeds on small hand-made distributions.
@Suite struct SamplerTests {
    /// Logits whose softmax is exactly `probabilities`.
    static func logits(_ probabilities: [Double]) -> [Float] { probabilities.map { Float(log($0)) } }

    static func histogram(_ logits: [Float], _ parameters: SamplingParameters, draws: Int = 20_000, seed: UInt64 = 7) -> [Int] {
        var generator = SeededGenerator(seed: seed)
        var counts = [Int](repeating: 0, count: logits.count)
        logits.withUnsafeBufferPointer { buffer in
            for _ in 0..<draws {
                let token = Sampler.sample(logits: buffer, parameters: parameters, seen: [], generatedCounts: [:], generator: &generator)
                counts[Int(token.tokenID)] += 1
            }
        }
        return counts
    }

    let distribution = SamplerTests.logits([0.4, 0.3, 0.15, 0.1, 0.05])

    @Test func greedyPicksArgmaxWithLowestIndexOnTies() {
        var g = SeededGenerator(seed: 1)
        let tied: [Float] = [1, 3, 3, 2]
        let token = tied.withUnsafeBufferPointer { Sampler.sample(logits: $0, parameters: .greedy, seen: [], generatedCounts: [:], generator: &g) }
        #expect(token.tokenID == 1)
    }

    @Test func temperatureOneFollowsTheDistribution() {
        let counts = Self.histogram(distribution, SamplingParameters(temperature: 1))
        for (count, p) in zip(counts, [0.4, 0.3, 0.15, 0.1, 0.05]) {
            #expect(abs(Double(count) / 20_000 - p) < 0.015, "\(counts)")
        }
    }

    @Test func topPKeepsTheSmallestSetReachingTheMass() {
        // 0.4 + 0.3 = 0.7 < 0.75, so the top three (0.85) stay, renormalized: 0.47, 0.35, 0.18.
        let counts = Self.histogram(distribution, SamplingParameters(temperature: 1, topP: 0.75))
        #expect(counts[3] == 0 && counts[4] == 0)
        #expect(abs(Double(counts[0]) / 20_000 - 0.4 / 0.85) < 0.015)
        #expect(abs(Double(counts[2]) / 20_000 - 0.15 / 0.85) < 0.015)
    }

    @Test func topKAndMinP() {
        let topK = Self.histogram(distribution, SamplingParameters(temperature: 1, topK: 2))
        #expect(topK[2] == 0 && topK[3] == 0 && topK[4] == 0)
        #expect(abs(Double(topK[0]) / 20_000 - 0.4 / 0.7) < 0.015)
        // min_p 0.3: threshold 0.12 keeps 0.4, 0.3, 0.15.
        let minP = Self.histogram(distribution, SamplingParameters(temperature: 1, minP: 0.3))
        #expect(minP[3] == 0 && minP[4] == 0 && minP[2] > 0)
    }

    @Test func lowTemperatureSharpens() {
        // p ∝ q^(1/T): at T = 0.1 the top token gets 0.4^10 / Σ q^10 ≈ 0.9466.
        let expected = pow(0.4, 10) / [0.4, 0.3, 0.15, 0.1, 0.05].reduce(0) { $0 + pow($1, 10) }
        let counts = Self.histogram(distribution, SamplingParameters(temperature: 0.1), draws: 20_000)
        #expect(abs(Double(counts[0]) / 20_000 - expected) < 0.01)
    }

    @Test func penalties() {
        var g = SeededGenerator(seed: 1)
        let logits: [Float] = [2.0, 1.9, -1.0]
        func pick(_ p: SamplingParameters, seen: Set<Int32> = [], counts: [Int32: Int] = [:]) -> Int32 {
            logits.withUnsafeBufferPointer { Sampler.sample(logits: $0, parameters: p, seen: seen, generatedCounts: counts, generator: &g).tokenID }
        }
        #expect(pick(.greedy) == 0)
        #expect(pick(SamplingParameters(temperature: 0, repetitionPenalty: 1.2), seen: [0]) == 1)  // 2.0/1.2 < 1.9
        #expect(pick(SamplingParameters(temperature: 0, presencePenalty: 0.2), counts: [0: 1]) == 1)
        #expect(pick(SamplingParameters(temperature: 0, frequencyPenalty: 0.04), counts: [0: 2]) == 0)  // 2.0-0.08 > 1.9
        #expect(pick(SamplingParameters(temperature: 0, frequencyPenalty: 0.06), counts: [0: 2]) == 1)
        // A negative logit is multiplied by the repetition penalty (pushed further down).
        let negative: [Float] = [-1.0, -1.1]
        let token = negative.withUnsafeBufferPointer {
            Sampler.sample(logits: $0, parameters: SamplingParameters(temperature: 0, repetitionPenalty: 1.2), seen: [0],
                           generatedCounts: [:], generator: &g).tokenID
        }
        #expect(token == 1)
    }

    @Test func logprobsAreComputedOnlyWhenAskedFor() {
        var g = SeededGenerator(seed: 1)
        let token = distribution.withUnsafeBufferPointer {
            Sampler.sample(logits: $0, parameters: .greedy, seen: [], generatedCounts: [:], generator: &g)
        }
        #expect(token.logprob.isNaN && token.top.isEmpty)
    }

    @Test func logprobsAreOfTheRawDistribution() {
        var g = SeededGenerator(seed: 1)
        let token = distribution.withUnsafeBufferPointer {
            Sampler.sample(logits: $0, parameters: SamplingParameters(temperature: 0, repetitionPenalty: 2, logprobs: 3),
                           seen: [0], generatedCounts: [:], generator: &g)
        }
        #expect(token.top.map(\.tokenID) == [0, 1, 2])
        #expect(abs(token.top[0].logprob - log(0.4)) < 1e-6)
        #expect(abs(token.logprob - log(Double(token.tokenID == 0 ? 0.4 : 0.3))) < 1e-6)
    }

    @Test func sameSeedSameTokensDifferentSeedDifferentTokens() {
        let p = SamplingParameters(temperature: 1)
        #expect(Self.histogram(distribution, p, draws: 500, seed: 42) == Self.histogram(distribution, p, draws: 500, seed: 42))
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 2)
        #expect((0..<8).map { _ in a.next() } != (0..<8).map { _ in b.next() })
    }

    @Test func suppressedTokensAreNeverChosen() {
        var g = SeededGenerator(seed: 1)
        let token = distribution.withUnsafeBufferPointer {
            Sampler.sample(logits: $0, parameters: .greedy, seen: [], generatedCounts: [:], suppressed: [0], generator: &g)
        }
        #expect(token.tokenID == 1)
    }

    @Test func validationNamesTheParameter() {
        #expect(throws: SamplingError.self) { try SamplingParameters(temperature: -1).validate() }
        do {
            try SamplingParameters(topP: 1.5).validate()
            Issue.record("expected an error")
        } catch {
            #expect(error.parameter == "top_p")
            #expect(error.message.contains("(0, 1]"))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

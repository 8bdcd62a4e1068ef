import Foundation
import Testing
import ServingBenchmark

/// The benchmark's arithmetic against hand-computed figures (vLLM's definitions, numpy's statistics).
@Suite struct MetricsTests {
    @Test func statisticsMatchNumpy() {
        // numpy: mean 2.5, median 2.5, std 1.118033988749895, percentile(99) 3.97, percentile(50) of [1,2,3] 2.
        let values = [4.0, 1, 3, 2]
        #expect(Statistics.mean(values) == 2.5)
        #expect(Statistics.median(values) == 2.5)
        #expect(abs(Statistics.standardDeviation(values) - 1.118033988749895) < 1e-15)
        #expect(abs(Statistics.percentile(values, 99) - 3.97) < 1e-12)
        #expect(Statistics.percentile([1, 2, 3], 50) == 2)
        #expect(Statistics.percentile([7], 99) == 7)
        #expect(Statistics.mean([]) == 0 && Statistics.percentile([], 99) == 0)  // vLLM's `values or 0`
    }

    static func outcome(start: Double, ttft: Double, itl: [Double], tokens: Int, prompt: Int) -> RequestOutcome {
        var outcome = RequestOutcome(promptLength: prompt, startTime: start)
        outcome.success = true
        outcome.ttft = ttft
        outcome.itl = itl
        outcome.latency = ttft + itl.reduce(0, +)
        outcome.outputTokens = tokens
        return outcome
    }

    @Test func aggregatesFollowVLLMDefinitions() throws {
        let a = Self.outcome(start: 0, ttft: 0.1, itl: [0.05, 0.05, 0.05], tokens: 4, prompt: 10)  // TPOT 50 ms
        let b = Self.outcome(start: 0.5, ttft: 0.2, itl: [0.1], tokens: 2, prompt: 20)              // TPOT 100 ms
        let c = Self.outcome(start: 0.6, ttft: 0.3, itl: [], tokens: 1, prompt: 5)                  // no TPOT
        var failed = RequestOutcome(promptLength: 99, startTime: 0.7)
        failed.error = "HTTP 500"
        let metrics = BenchmarkMetrics(outcomes: [a, b, c, failed], duration: 2, goodput: Goodput(ttftMs: 250, tpotMs: 60))
        #expect(metrics.completed == 3 && metrics.failed == 1)
        #expect(metrics.totalInput == 35 && metrics.totalOutput == 7 && metrics.outputLengths == [4, 2, 1, 0])
        #expect(metrics.requestThroughput == 1.5 && metrics.outputThroughput == 3.5 && metrics.totalTokenThroughput == 21)
        #expect(metrics.tpots.count == 2)
        #expect(abs(metrics.tpots[0] - 0.05) < 1e-12 && abs(metrics.tpots[1] - 0.1) < 1e-12)
        #expect(metrics.itls == [0.05, 0.05, 0.05, 0.1])  // pooled across requests
        #expect(metrics.e2els.map { ($0 * 1000).rounded() } == [250, 300, 300])
        // Goodput: a meets both, b misses TPOT (100 > 60), c has TPOT 0 and TTFT 300 > 250.
        #expect(metrics.requestGoodput == 0.5)
        let ttft = metrics.summary(of: .ttft, percentiles: [50, 99])
        #expect(abs(ttft.mean - 200) < 1e-9 && abs(ttft.median - 200) < 1e-9)
        #expect(abs(ttft.percentiles[1].1 - 298) < 1e-9)  // 200 + 0.98 · 100
        // Peaks: a's 4 tokens, b's 2 and c's 1 all land in second 0; all three requests are active then.
        #expect(metrics.maxOutputTokensPerSecond == 7 && metrics.maxConcurrentRequests == 3)
    }

    @Test func tokensAreCountedFromTextWithoutUsage() {
        var outcome = Self.outcome(start: 0, ttft: 0.1, itl: [0.1], tokens: 0, prompt: 1)
        outcome.generatedText = "one two three"
        let metrics = BenchmarkMetrics(outcomes: [outcome], duration: 1) { $0.split(separator: " ").count }
        #expect(metrics.totalOutput == 3)
    }

    @Test func goodputParsesVLLMSyntax() throws {
        #expect(try Goodput(parsing: ["ttft:200", "e2el:1000.5"]) == Goodput(ttftMs: 200, e2elMs: 1000.5))
        #expect(throws: BenchmarkError.self) { try Goodput(parsing: ["ttft=200"]) }
        #expect(throws: BenchmarkError.self) { try Goodput(parsing: ["latency:3"]) }
        #expect(throws: BenchmarkError.self) { try Goodput(parsing: ["tpot:-1"]) }
    }

    @Test func reportUsesVLLMKeys() throws {
        let run = ServeBenchmarkRun(outcomes: [Self.outcome(start: 0, ttft: 0.1, itl: [0.05], tokens: 2, prompt: 3)],
                                    duration: 1, modelName: "m")
        let report = BenchmarkReport(run: run, options: ServeBenchmarkOptions(baseURL: "http://x"), percentiles: [99, 99.9])
        let json = report.json
        for key in ["completed", "failed", "total_input_tokens", "total_output_tokens", "request_throughput", "output_throughput",
                    "total_token_throughput", "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms", "p99.9_itl_ms",
                    "mean_tpot_ms", "ttfts", "itls", "input_lens", "output_lens", "errors", "duration", "max_concurrent_requests"] {
            #expect(json[key] != nil, "\(key) missing")
        }
        #expect(json["request_goodput"] is NSNull)
        #expect(try JSONSerialization.data(withJSONObject: json).count > 0)
        #expect(report.table.contains("Successful requests:                     1"))
        #expect(report.table.contains("P99 TTFT (ms):"))
    }
}

/// Arrival times and prompts: vLLM's processes and bounds, repeatable with a seed.
@Suite struct WorkloadTests {
    @Test func gammaSamplesHaveTheRightMoments() {
        for shape in [0.5, 1, 4] {
            var generator = SeededGenerator(seed: 7)
            let samples = (0..<200_000).map { _ in generator.gamma(shape: shape, scale: 2) }
            let mean = Statistics.mean(samples), variance = pow(Statistics.standardDeviation(samples), 2)
            #expect(abs(mean - 2 * shape) / (2 * shape) < 0.02, "shape \(shape): mean \(mean)")
            #expect(abs(variance - 4 * shape) / (4 * shape) < 0.05, "shape \(shape): variance \(variance)")
        }
    }

    @Test func arrivalsEndAtCountOverRate() {
        var generator = SeededGenerator(seed: 1)
        let times = arrivalTimes(count: 500, rate: 20, burstiness: 1, generator: &generator)
        #expect(abs(times.last! - 25) < 1e-9)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        // Exponential gaps: the coefficient of variation is 1.
        #expect(abs(Statistics.standardDeviation(gaps) / Statistics.mean(gaps) - 1) < 0.15)
        var again = SeededGenerator(seed: 1)
        #expect(arrivalTimes(count: 500, rate: 20, burstiness: 1, generator: &again) == times)
        var even = SeededGenerator(seed: 1)
        let constant = arrivalTimes(count: 4, rate: 2, burstiness: .infinity, generator: &even)
        #expect(constant == [0.5, 1, 1.5, 2])
        #expect(arrivalTimes(count: 3, rate: .infinity, burstiness: 1, generator: &even) == [0, 0, 0])
    }

    /// A tokenizer that merges "a"+"b" into "ab": decoded ids do not re-encode to the same count.
    static let merging = PromptTokenizer(
        encode: { text in
            var ids: [Int32] = []
            var rest = Substring(text)
            while !rest.isEmpty {
                if rest.hasPrefix("ab") { ids.append(2); rest = rest.dropFirst(2) } else { ids.append(rest.first == "a" ? 0 : 1); rest = rest.dropFirst() }
            }
            return ids
        },
        decode: { ids in ids.map { ["a", "b", "ab"][Int($0)] }.joined() },
        candidates: [0, 1, 2])

    @Test func randomPromptsHaveExactLengthsWithinTheRange() throws {
        #expect(RandomDataset.bounds(100, ratio: 0.25) == 75...125)
        #expect(RandomDataset.bounds(10, ratio: 0) == 10...10)
        #expect(RandomDataset.bounds(1, ratio: 0.9) == 1...2)
        let dataset = try RandomDataset(inputLength: 40, outputLength: 16, rangeRatio: 0.5)
        var generator = SeededGenerator(seed: 3)
        let prompts = try dataset.prompts(count: 200, tokenizer: Self.merging, generator: &generator)
        #expect(prompts.allSatisfy { (20...60).contains($0.promptLength) && (8...24).contains($0.outputLength) })
        #expect(prompts.allSatisfy { Self.merging.encode($0.text).count == $0.promptLength })
        #expect(Set(prompts.map(\.promptLength)).count > 20, "lengths spread over the range")
        var again = SeededGenerator(seed: 3)
        #expect(try dataset.prompts(count: 200, tokenizer: Self.merging, generator: &again) == prompts)
        #expect(throws: BenchmarkError.self) { try RandomDataset(inputLength: 10, outputLength: 10, rangeRatio: 1) }
    }
}

import Foundation

/// numpy's statistics, so figures match `vllm bench serve` to the last digit: mean, median, population standard
/// deviation, and percentiles with linear interpolation. An empty list counts as `[0]` (vLLM's `values or 0`).
public enum Statistics {
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    public static func standardDeviation(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let average = mean(values)
        return (values.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(values.count)).squareRoot()
    }

    public static func median(_ values: [Double]) -> Double { percentile(values, 50) }

    /// numpy's default ("linear") percentile: the value at rank `p/100 · (n − 1)` of the sorted values, interpolated.
    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = p / 100 * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - Double(lower))
    }
}

/// Service-level objectives for goodput (`--goodput ttft:200 tpot:50 e2el:1000`, milliseconds).
public struct Goodput: Sendable, Equatable {
    public var ttftMs: Double?
    public var tpotMs: Double?
    public var e2elMs: Double?

    public init(ttftMs: Double? = nil, tpotMs: Double? = nil, e2elMs: Double? = nil) {
        self.ttftMs = ttftMs
        self.tpotMs = tpotMs
        self.e2elMs = e2elMs
    }

    /// Parses `KEY:VALUE` items as vLLM does; keys are ttft, tpot, e2el; values are positive milliseconds.
    public init(parsing items: [String]) throws(BenchmarkError) {
        for item in items {
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let value = Double(parts[1]), value >= 0, value.isFinite else {
                throw BenchmarkError("--goodput item \"\(item)\" is not KEY:MILLISECONDS (e.g. ttft:200 tpot:50 e2el:1000)")
            }
            switch parts[0] {
            case "ttft": ttftMs = value
            case "tpot": tpotMs = value
            case "e2el": e2elMs = value
            default: throw BenchmarkError("--goodput key \"\(parts[0])\" is not one of ttft, tpot, e2el")
            }
        }
    }

    public var isEmpty: Bool { ttftMs == nil && tpotMs == nil && e2elMs == nil }
}

/// The aggregate figures of a run, defined exactly as `vllm bench serve` defines them (`calculate_metrics`).
public struct BenchmarkMetrics: Sendable {
    public var completed = 0
    public var failed = 0
    public var totalInput = 0
    public var totalOutput = 0
    public var requestThroughput = 0.0
    public var requestGoodput = 0.0
    public var outputThroughput = 0.0
    public var totalTokenThroughput = 0.0
    /// Seconds, per metric: TTFT and E2EL of completed requests; TPOT of those with more than one token; ITL gaps pooled.
    public var ttfts: [Double] = []
    public var tpots: [Double] = []
    public var itls: [Double] = []
    public var e2els: [Double] = []
    /// Output tokens per request (0 for failed ones).
    public var outputLengths: [Int] = []
    public var maxOutputTokensPerSecond = 0.0
    public var maxConcurrentRequests = 0

    /// - Parameters:
    ///   - outcomes: one per request, in request order.
    ///   - duration: seconds from the first request sent to the last answer.
    ///   - countTokens: output tokens of a text, for servers that send no usage.
    public init(outcomes: [RequestOutcome], duration: Double, goodput: Goodput = Goodput(),
                countTokens: (String) -> Int = { _ in 0 }) {
        var good = 0
        for outcome in outcomes {
            guard outcome.success else {
                outputLengths.append(0)
                failed += 1
                continue
            }
            let outputLength = outcome.outputTokens > 0 ? outcome.outputTokens : countTokens(outcome.generatedText)
            outputLengths.append(outputLength)
            totalInput += outcome.promptLength
            var tpot = 0.0
            if outputLength > 1 {
                tpot = (outcome.latency - outcome.ttft) / Double(outputLength - 1)
                tpots.append(tpot)
            }
            itls += outcome.itl
            ttfts.append(outcome.ttft)
            e2els.append(outcome.latency)
            completed += 1
            if !goodput.isEmpty {
                let meets = [(goodput.ttftMs, outcome.ttft), (goodput.tpotMs, tpot), (goodput.e2elMs, outcome.latency)]
                    .allSatisfy { slo, value in slo.map { $0 / 1000 >= value } ?? true }
                if meets { good += 1 }
            }
        }
        totalOutput = outputLengths.reduce(0, +)
        requestThroughput = Double(completed) / duration
        requestGoodput = Double(good) / duration
        outputThroughput = Double(totalOutput) / duration
        totalTokenThroughput = Double(totalInput + totalOutput) / duration
        (maxOutputTokensPerSecond, maxConcurrentRequests) = Self.peaks(outcomes.filter(\.success))
    }

    /// vLLM's peak figures: tokens stamped into one-second buckets from the first request's start (first token at
    /// start + TTFT, each later one an ITL gap after), and the requests active in each bucket.
    static func peaks(_ outcomes: [RequestOutcome]) -> (tokensPerSecond: Double, concurrent: Int) {
        guard let first = outcomes.map(\.startTime).min(),
              let last = outcomes.map({ $0.startTime + $0.latency }).max() else { return (0, 0) }
        let seconds = Int((last - first).rounded(.up)) + 1
        var tokens = [Double](repeating: 0, count: seconds)
        var concurrent = [Int](repeating: 0, count: seconds)
        for outcome in outcomes {
            var time = outcome.startTime + outcome.ttft
            var stamps = [time]
            for gap in outcome.itl {
                time += gap
                stamps.append(time)
            }
            for stamp in stamps {
                let bucket = Int(stamp - first)
                if bucket >= 0 && bucket < seconds { tokens[bucket] += 1 }
            }
            let from = Int(outcome.startTime - first), to = Int(outcome.startTime + outcome.latency - first)
            for second in from...max(from, to) where second < seconds { concurrent[second] += 1 }
        }
        return (tokens.max() ?? 0, concurrent.max() ?? 0)
    }

    /// Mean, median, standard deviation and the given percentiles of one metric, in milliseconds.
    public func summary(of metric: Metric, percentiles: [Double]) -> (mean: Double, median: Double, std: Double, percentiles: [(Double, Double)]) {
        let values = self[metric]
        return (Statistics.mean(values) * 1000, Statistics.median(values) * 1000, Statistics.standardDeviation(values) * 1000,
                percentiles.map { ($0, Statistics.percentile(values, $0) * 1000) })
    }

    public subscript(metric: Metric) -> [Double] {
        switch metric {
        case .ttft: ttfts
        case .tpot: tpots
        case .itl: itls
        case .e2el: e2els
        }
    }

    /// The latency metrics, by vLLM's names.
    public enum Metric: String, Sendable, CaseIterable {
        case ttft, tpot, itl, e2el

        var title: String {
            switch self {
            case .ttft: "Time to First Token"
            case .tpot: "Time per Output Token (excl. 1st token)"
            case .itl: "Inter-token Latency"
            case .e2el: "End-to-end Latency"
            }
        }
    }
}

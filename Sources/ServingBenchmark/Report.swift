import Foundation

/// A run's figures as `vllm bench serve` prints them and saves them (`--save-result`, the same JSON keys).
public struct BenchmarkReport {
    public let run: ServeBenchmarkRun
    public let metrics: BenchmarkMetrics
    public let options: ServeBenchmarkOptions
    /// Which latency metrics get mean / median / std / percentiles (`--percentile-metrics`).
    public let selected: [BenchmarkMetrics.Metric]
    /// `--metric-percentiles`, e.g. [99].
    public let percentiles: [Double]
    public let goodput: Goodput

    public init(run: ServeBenchmarkRun, options: ServeBenchmarkOptions, selected: [BenchmarkMetrics.Metric] = [.ttft, .tpot, .itl],
                percentiles: [Double] = [99], goodput: Goodput = Goodput(), countTokens: (String) -> Int = { _ in 0 }) {
        self.run = run
        self.options = options
        self.selected = selected
        self.percentiles = percentiles
        self.goodput = goodput
        metrics = BenchmarkMetrics(outcomes: run.outcomes, duration: run.duration, goodput: goodput, countTokens: countTokens)
    }

    /// vLLM's result table.
    public var table: String {
        var lines = [Self.banner(" Serving Benchmark Result ", "=")]
        func row(_ label: String, _ value: Any) {
            let text = (value as? Double).map { String(format: "%.2f", $0) } ?? "\(value)"
            lines.append(label.padding(toLength: 40, withPad: " ", startingAt: 0) + " " + text)
        }
        row("Successful requests:", metrics.completed)
        row("Failed requests:", metrics.failed)
        if let maxConcurrency = options.maxConcurrency { row("Maximum request concurrency:", maxConcurrency) }
        if options.requestRate.isFinite { row("Request rate configured (RPS):", options.requestRate) }
        row("Benchmark duration (s):", run.duration)
        row("Total input tokens:", metrics.totalInput)
        row("Total generated tokens:", metrics.totalOutput)
        row("Request throughput (req/s):", metrics.requestThroughput)
        if !goodput.isEmpty { row("Request goodput (req/s):", metrics.requestGoodput) }
        row("Output token throughput (tok/s):", metrics.outputThroughput)
        row("Peak output token throughput (tok/s):", metrics.maxOutputTokensPerSecond)
        row("Peak concurrent requests:", Double(metrics.maxConcurrentRequests))
        row("Total Token throughput (tok/s):", metrics.totalTokenThroughput)
        for metric in selected {
            let summary = metrics.summary(of: metric, percentiles: percentiles)
            let name = metric.rawValue.uppercased()
            lines.append(Self.banner(metric.title, "-"))
            row("Mean \(name) (ms):", summary.mean)
            row("Median \(name) (ms):", summary.median)
            for (p, value) in summary.percentiles { row("P\(Self.word(p)) \(name) (ms):", value) }
        }
        if !run.turns.isEmpty {
            lines.append(Self.banner("Time to First Token by turn", "-"))
            for (turn, ttft) in ttftByTurn { row("Mean TTFT turn \(turn) (ms):", ttft) }
        }
        lines.append(String(repeating: "=", count: 50))
        return lines.joined(separator: "\n") + "\n"
    }

    /// A multi-turn run's mean time to first token of each turn, in milliseconds (successful requests only).
    public var ttftByTurn: [(turn: Int, meanMilliseconds: Double)] {
        let turns = Dictionary(grouping: zip(run.turns, run.outcomes).filter { $0.1.success }, by: \.0)
        return turns.keys.sorted().map { turn in
            let ttfts = turns[turn]!.map(\.1.ttft)
            return (turn, ttfts.reduce(0, +) / Double(ttfts.count) * 1000)
        }
    }

    /// The `--save-result` JSON object, with vLLM's keys (plus the run's settings, as vLLM adds them).
    public var json: [String: Any] {
        var result: [String: Any] = [
            "date": Self.dateFormatter.string(from: Date()),
            "endpoint_type": "openai", "backend": options.endpoint == .completions ? "openai" : "openai-chat",
            "model_id": run.modelName, "num_prompts": run.outcomes.count,
            "request_rate": options.requestRate.isFinite ? options.requestRate as Any : "inf",
            "burstiness": options.burstiness, "max_concurrency": options.maxConcurrency as Any? ?? NSNull(),
            "duration": run.duration, "completed": metrics.completed, "failed": metrics.failed,
            "total_input_tokens": metrics.totalInput, "total_output_tokens": metrics.totalOutput,
            "request_throughput": metrics.requestThroughput,
            "request_goodput": goodput.isEmpty ? NSNull() : metrics.requestGoodput as Any,
            "output_throughput": metrics.outputThroughput, "total_token_throughput": metrics.totalTokenThroughput,
            "input_lens": run.outcomes.map(\.promptLength), "output_lens": metrics.outputLengths,
            "ttfts": run.outcomes.map(\.ttft), "itls": run.outcomes.map(\.itl),
            "generated_texts": run.outcomes.map(\.generatedText), "errors": run.outcomes.map(\.error),
            "max_output_tokens_per_s": metrics.maxOutputTokensPerSecond,
            "max_concurrent_requests": metrics.maxConcurrentRequests,
        ]
        if !run.turns.isEmpty {
            result["turns"] = run.turns
            result["mean_ttft_ms_by_turn"] = ttftByTurn.map(\.meanMilliseconds)
        }
        for metric in selected {
            let summary = metrics.summary(of: metric, percentiles: percentiles)
            result["mean_\(metric.rawValue)_ms"] = summary.mean
            result["median_\(metric.rawValue)_ms"] = summary.median
            result["std_\(metric.rawValue)_ms"] = summary.std
            for (p, value) in summary.percentiles { result["p\(Self.word(p))_\(metric.rawValue)_ms"] = value }
        }
        return result
    }

    /// `99` for 99.0, `99.9` otherwise (vLLM's key spelling).
    static func word(_ p: Double) -> String { p == p.rounded() ? String(Int(p)) : String(p) }

    static func banner(_ title: String, _ fill: Character) -> String {
        let padding = max(0, 50 - title.count)
        return String(repeating: fill, count: padding / 2) + title + String(repeating: fill, count: padding - padding / 2)
    }

    static let dateFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter
    }()
}

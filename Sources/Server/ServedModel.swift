import ChatTemplates
import Engine
import Foundation
import Kernels
import Prometheus

/// The model a server answers with: its running engine and its text front end.
public struct ServedModel: Sendable {
    /// The name clients pass as `model`.
    public let name: String
    /// What runs the requests: an engine in this process, or a supervisor of a pipeline elsewhere.
    public let engine: any GenerationService
    public let encode: @Sendable (String) -> [Int32]
    /// The chat template: messages and tool definitions (OpenAI's function objects) to prompt text.
    public let renderChat: @Sendable ([ChatMessage], [JinjaValue]) throws -> String
    /// Whether the template renders tool definitions itself; otherwise the server describes them in a system message.
    public let templateRendersTools: Bool
    /// The text of one token (for log-prob entries).
    public let tokenText: @Sendable (Int32) -> String

    public init(name: String, engine: any GenerationService, encode: @escaping @Sendable (String) -> [Int32],
                renderChat: @escaping @Sendable ([ChatMessage], [JinjaValue]) throws -> String, templateRendersTools: Bool = false,
                tokenText: @escaping @Sendable (Int32) -> String) {
        self.name = name
        self.engine = engine
        self.encode = encode
        self.renderChat = renderChat
        self.templateRendersTools = templateRendersTools
        self.tokenText = tokenText
    }

    var contextLength: Int { engine.limits.contextLength }
}

/// The server's Prometheus metrics: requests, tokens, latencies, and the pipeline's own state.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let promptTokens: Counter
    let generationTokens: Counter
    let timeToFirstToken: ValueHistogram
    let timePerOutputToken: ValueHistogram
    let endToEnd: ValueHistogram
    let prefixCacheQueries: Counter
    let prefixCacheHits: Counter
    /// Every (stage, host) pair a supervised pipeline has run on (stale series are set to 0, not left at 1).
    private let stageHosts = Locked<Set<String>>([])
    /// The engine's prefix-cache totals the counters last caught up with (a replaced pipeline starts from 0).
    private let prefixTotals = Locked<(queries: Int, hits: Int)>((0, 0))

    init() {
        promptTokens = registry.makeCounter(descriptor: Self.name("prompt_tokens", unit: "total", "Prompt tokens of finished requests"))
        generationTokens = registry.makeCounter(descriptor: Self.name("generation_tokens", unit: "total", "Generated tokens"))
        prefixCacheQueries = registry.makeCounter(descriptor: Self.name(
            "prefix_cache_queries", unit: "total", "Prompt tokens of admitted requests that looked for a cached prefix"))
        prefixCacheHits = registry.makeCounter(descriptor: Self.name(
            "prefix_cache_hits", unit: "total", "Prompt tokens whose keys and values came from the prefix cache"))
        let seconds = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        timeToFirstToken = registry.makeValueHistogram(
            descriptor: Self.name("time_to_first_token", unit: "seconds", "Time from request to its first token"), buckets: seconds)
        timePerOutputToken = registry.makeValueHistogram(
            descriptor: Self.name("time_per_output_token", unit: "seconds", "Mean time between a request's tokens after the first"),
            buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1])
        endToEnd = registry.makeValueHistogram(
            descriptor: Self.name("e2e_request_latency", unit: "seconds", "Time from request to its last token"), buckets: seconds)
    }

    /// Adds what the engine's prefix-cache totals grew by since the last scrape to the counters.
    private func catchUpPrefixCounters(_ statistics: EngineStatistics) {
        let (queries, hits) = prefixTotals.withLock { last in
            defer { last = (statistics.prefixCacheQueries, statistics.prefixCacheHits) }
            // Totals below the last ones belong to a pipeline that replaced a failed one: it counted from 0.
            let restarted = statistics.prefixCacheQueries < last.queries || statistics.prefixCacheHits < last.hits
            return restarted ? (statistics.prefixCacheQueries, statistics.prefixCacheHits)
                : (statistics.prefixCacheQueries - last.queries, statistics.prefixCacheHits - last.hits)
        }
        prefixCacheQueries.increment(by: Int64(queries))
        prefixCacheHits.increment(by: Int64(hits))
    }

    /// The supervisor's gauges and counters: restarts, the pipeline's shape, the last recovery.
    private func supervision(_ status: SupervisionStatus, gauge: (String, String, Double, [(String, String)]) -> Void) {
        gauge("pipeline_restarts", "Pipelines launched to replace a failed one", Double(status.restarts), [])
        gauge("pipeline_failures", "Pipeline failures detected (a rank died, hung or lost its host)", Double(status.failures), [])
        gauge("pipeline_stages", "Stages of the running pipeline (0 while none runs)", Double(status.stages), [])
        gauge("pipeline_hosts", "Distinct hosts of the running pipeline", Double(Set(status.hosts).count), [])
        gauge("pipeline_last_recovery_seconds", "Seconds from the last failure's detection to the new pipeline serving",
              status.lastRecoverySeconds ?? 0, [])
        gauge("requests_resumed", "Requests resubmitted to a new pipeline with the tokens they had streamed",
              Double(status.resumedRequests), [])
        gauge("pipeline_last_failure_timestamp_seconds", "When the last failure was detected (Unix time)", status.lastFailureTime ?? 0, [])
        gauge("pipeline_last_recovery_timestamp_seconds", "When the pipeline that replaced the last failed one began serving (Unix time)",
              status.lastRecoveryTime ?? 0, [])
        gauge("pipeline_last_teardown_seconds", "Seconds the last recovery spent ending the failed pipeline", status.lastTeardownSeconds ?? 0, [])
        gauge("pipeline_last_launch_seconds", "Seconds the last recovery spent starting the new pipeline (launch, model load)",
              status.lastLaunchSeconds ?? 0, [])
        // One series per (stage, host) ever served: the ones of the pipeline serving now are 1, the others 0.
        let current = Set(status.hosts.enumerated().map { "\($0.offset)\u{0}\($0.element)" })
        let seen = stageHosts.withLock { seen in
            seen.formUnion(current)
            return seen
        }
        for key in seen.sorted() {
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            gauge("pipeline_stage_host", "1 for the host each stage of the running pipeline runs on", current.contains(key) ? 1 : 0,
                  [("stage", parts[0]), ("host", parts[1])])
        }
    }

    /// `brigade_<metric>_<unit>`.
    static func name(_ metric: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "brigade", metricName: metric, unitName: unit, helpText: help)
    }

    /// Counts an answered request by status and, once accepted, by endpoint (`chat_completions`, `completions`,
    /// `messages`, `messages_count_tokens`, `responses`).
    func requestFinished(status: Int, endpoint: String? = nil) {
        registry.makeCounter(descriptor: Self.name("requests", unit: "total", "Requests by HTTP status"),
                             labels: [("status", String(status))]).increment()
        if let endpoint {
            registry.makeCounter(descriptor: Self.name("endpoint_requests", unit: "total", "Accepted requests by API endpoint"),
                                 labels: [("endpoint", endpoint)]).increment()
        }
    }

    /// The exposition text, with gauges read from `engine` (none while the model loads) now.
    func text(engine: (any GenerationService)?) -> String {
        func gauge(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
            registry.makeGauge(descriptor: Self.name(name, help), labels: labels).set(value)
        }

        if let engine {
            let statistics = engine.statistics
            gauge("requests_running", "Requests in the running set", Double(statistics.running))
            gauge("requests_waiting", "Requests waiting for admission", Double(statistics.waiting))
            gauge("kv_blocks_used", "KV cache blocks in use", Double(statistics.usedBlocks))
            let limits = engine.limits
            gauge("kv_blocks_total", "KV cache blocks", Double(limits.blockCount))
            gauge("prefix_cache_blocks", "KV cache blocks holding a cached prefix (in use or evictable)", Double(statistics.cachedBlocks))
            catchUpPrefixCounters(statistics)
            if limits.windowBlockCount > 0 {
                gauge("kv_window_blocks_used", "Sliding-window layers' KV cache blocks in use", Double(statistics.usedWindowBlocks))
                gauge("kv_window_blocks_total", "Sliding-window layers' KV cache blocks", Double(limits.windowBlockCount))
            }
            gauge("pipeline_failed", "1 while no pipeline serves (after a fault it could not recover from)",
                  engine.unavailableReason == nil ? 0 : 1)
            if let supervision = engine.supervision { self.supervision(supervision) { gauge($0, $1, $2, labels: $3) } }
            for stage in engine.stageStatistics {
                let labels = [("stage", String(stage.rank))]
                gauge("stage_busy_fraction", "Fraction of its lifetime a stage spent in forward passes", stage.busyFraction, labels: labels)
                gauge("stage_micro_batches_in_flight", "Micro-batches launched and not yet handled", Double(stage.inFlight), labels: labels)
                gauge("stage_relay_wait_seconds", "Time waiting for executed batches from the relay", stage.relayWaitSeconds, labels: labels)
            }
        }
        gauge("model_loaded", "1 once the model has loaded", engine == nil ? 0 : 1)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

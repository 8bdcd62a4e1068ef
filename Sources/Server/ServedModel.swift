import ChatTemplates
import Engine
import Foundation
import Prometheus

/// The model a server answers with: its running engine and its text front end.
public struct ServedModel: Sendable {
    /// The name clients pass as `model`.
    public let name: String
    public let engine: InferenceEngine
    public let encode: @Sendable (String) -> [Int32]
    public let renderChat: @Sendable ([ChatMessage]) throws -> String
    /// The text of one token (for log-prob entries).
    public let tokenText: @Sendable (Int32) -> String

    public init(name: String, engine: InferenceEngine, encode: @escaping @Sendable (String) -> [Int32],
                renderChat: @escaping @Sendable ([ChatMessage]) throws -> String,
                tokenText: @escaping @Sendable (Int32) -> String) {
        self.name = name
        self.engine = engine
        self.encode = encode
        self.renderChat = renderChat
        self.tokenText = tokenText
    }

    var contextLength: Int { engine.model.contextLength }
}

/// The server's Prometheus metrics: requests, tokens, latencies, and the pipeline's own state.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let promptTokens: Counter
    let generationTokens: Counter
    let timeToFirstToken: ValueHistogram
    let timePerOutputToken: ValueHistogram
    let endToEnd: ValueHistogram
    private let engine: InferenceEngine

    init(engine: InferenceEngine) {
        self.engine = engine
        promptTokens = registry.makeCounter(name: "brigade_prompt_tokens_total", help: "Prompt tokens of finished requests")
        generationTokens = registry.makeCounter(name: "brigade_generation_tokens_total", help: "Generated tokens")
        let seconds = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        timeToFirstToken = registry.makeValueHistogram(name: "brigade_time_to_first_token_seconds", buckets: seconds,
                                                       help: "Time from request to its first token")
        timePerOutputToken = registry.makeValueHistogram(name: "brigade_time_per_output_token_seconds",
                                                         buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
                                                         help: "Mean time between a request's tokens after the first")
        endToEnd = registry.makeValueHistogram(name: "brigade_e2e_request_latency_seconds", buckets: seconds,
                                               help: "Time from request to its last token")
    }

    func requestFinished(status: Int) {
        registry.makeCounter(name: "brigade_requests_total", labels: [("status", String(status))],
                             help: "Requests by HTTP status").increment()
    }

    /// The exposition text, with gauges read from the engine now.
    func text() -> String {
        let statistics = engine.statistics
        func gauge(_ name: String, _ help: String, _ value: Double, labels: [(String, String)] = []) {
            registry.makeGauge(name: name, labels: labels, help: help).set(value)
        }
        gauge("brigade_requests_running", "Requests in the running set", Double(statistics.running))
        gauge("brigade_requests_waiting", "Requests waiting for admission", Double(statistics.waiting))
        gauge("brigade_kv_blocks_used", "KV cache blocks in use", Double(statistics.usedBlocks))
        gauge("brigade_kv_blocks_total", "KV cache blocks", Double(engine.blockCount))
        gauge("brigade_pipeline_failed", "1 after a pipeline fault", engine.failure == nil ? 0 : 1)
        for stage in engine.stageStatistics {
            let labels = [("stage", String(stage.rank))]
            gauge("brigade_stage_busy_fraction", "Fraction of its lifetime a stage spent in forward passes",
                  stage.busyFraction, labels: labels)
            gauge("brigade_stage_micro_batches_in_flight", "Micro-batches launched and not yet handled",
                  Double(stage.inFlight), labels: labels)
            gauge("brigade_stage_relay_wait_seconds", "Time waiting for executed batches from the relay",
                  stage.relayWaitSeconds, labels: labels)
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

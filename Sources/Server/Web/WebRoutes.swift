import Engine
import Foundation
import Hummingbird
import NIOCore

/// The web pages (`/` chat, `/pipeline` live view) and the stream that feeds the live view.
extension APIServer {
    /// The pages are static and hold no data, so they load without the API key; they ask for it and send it with
    /// every API call (and the stream).
    static let webPages: Set<String> = ["/", "/pipeline"]

    func addWebRoutes(to router: Router<BasicRequestContext>) {
        guard webUI else { return }
        router.get("/") { _, _ -> Response in Self.html(ChatPage.html) }
        router.get("pipeline") { _, _ -> Response in Self.html(PipelinePage.html) }
        router.get("v1/pipeline/stream") { _, _ -> Response in pipelineStream() }
    }

    static func html(_ page: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                                        .init("Content-Security-Policy")!: "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:"],
                 body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    /// `GET /v1/pipeline/stream`: server-sent events, one JSON snapshot every 250 ms (`PipelineSnapshot`) while the
    /// client stays. While at least one client is connected, the ranks of this process record their spans into
    /// `LiveTrace.shared`; with none, they record nothing.
    func pipelineStream() -> Response {
        let state = self.state
        let body = ResponseBody { writer in
            LiveTrace.shared.startWatching()
            defer { LiveTrace.shared.stopWatching() }
            var snapshots = PipelineSnapshots()
            while !Task.isCancelled {
                let snapshot = snapshots.next(model: state.model)
                var buffer = ByteBuffer(string: "data: ")
                buffer.writeBytes(Self.jsonData(snapshot))
                buffer.writeString("\n\n")
                try await writer.write(buffer)
                try await Task.sleep(for: .milliseconds(250))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

/// Successive snapshots of the pipeline for the live view: rates and fractions over the last two seconds, from the
/// counters the service publishes, and the spans recorded since the previous snapshot.
struct PipelineSnapshots {
    private var history: [(time: Double, engine: EngineStatistics, stages: [StageStatistics])] = []
    private var spansSince = DispatchTime.now().uptimeNanoseconds
    private let recordedAtStart = LiveTrace.shared.recordedCount
    static let window = 2.0

    mutating func next(model: ServedModel?) -> [String: Any] {
        let nanoseconds = DispatchTime.now().uptimeNanoseconds
        let now = Double(nanoseconds) / 1e9
        guard let model else {
            return ["now_ms": now * 1e3, "model": NSNull(), "stages": [Any](), "spans": [Any](), "timeline_available": true,
                    "tokens": ["prompt_per_second": 0, "generated_per_second": 0], "requests": ["running": 0, "waiting": 0],
                    "kv": ["used": 0, "total": 0, "cached": 0], "pipeline": ["restarts": 0, "failures": 0, "state": "loading"]]
        }
        let service = model.engine
        let engine = service.statistics
        let stages = service.stageStatistics.sorted { $0.rank < $1.rank }
        // A restarted pipeline counts from zero again: start the window over.
        if let last = history.last, engine.generatedTokens < last.engine.generatedTokens || stages.count != last.stages.count {
            history.removeAll()
        }
        history.append((now, engine, stages))
        while history.count > 2 && history[1].time <= now - Self.window { history.removeFirst() }
        let oldest = history[0]
        let seconds = max(now - oldest.time, 1e-9)
        let supervision = service.supervision
        let stageRows: [[String: Any]] = stages.enumerated().map { index, stage in
            let before = oldest.stages.first { $0.rank == stage.rank } ?? stage
            let wall = max(stage.wallSeconds - before.wallSeconds, 1e-9)
            func fraction(_ key: KeyPath<StageStatistics, Double>) -> Double {
                history.count < 2 ? 0 : min(1, max(0, (stage[keyPath: key] - before[keyPath: key]) / wall))
            }
            return ["stage": stage.rank, "layers": "\(stage.layers.lowerBound)–\(stage.layers.upperBound - 1)",
                    "host": supervision.flatMap { index < $0.hosts.count ? $0.hosts[index] : nil } as Any? ?? NSNull(),
                    "busy": fraction(\.forwardSeconds), "upstream_wait": fraction(\.upstreamWaitSeconds),
                    "relay_wait": fraction(\.relayWaitSeconds), "in_flight": stage.inFlight, "micro_batches": stage.microBatches]
        }
        let spans = LiveTrace.shared.spans(endingAfter: spansSince)
        spansSince = nanoseconds
        let limits = service.limits
        let busy = stageRows.contains { ($0["busy"] as? Double ?? 0) > 0 }
        return [
            "now_ms": now * 1e3, "model": model.name,
            "tokens": ["prompt_per_second": Double(engine.promptTokens - oldest.engine.promptTokens) / seconds,
                       "generated_per_second": Double(engine.generatedTokens - oldest.engine.generatedTokens) / seconds],
            "requests": ["running": engine.running, "waiting": engine.waiting],
            "kv": ["used": engine.usedBlocks, "total": limits.blockCount, "cached": engine.cachedBlocks,
                   "window_used": engine.usedWindowBlocks, "window_total": limits.windowBlockCount],
            "pipeline": ["restarts": supervision?.restarts ?? 0, "failures": supervision?.failures ?? 0,
                         "state": supervision?.state ?? (service.unavailableReason == nil ? "serving" : "failed")],
            "stages": stageRows,
            "spans": spans.map { span -> [String: Any] in
                ["rank": span.rank, "relay": span.onRelay, "category": span.category, "activity": span.activity.rawValue,
                 "start": Double(span.start) / 1e6, "end": Double(span.end) / 1e6]
            },
            "timeline_available": LiveTrace.shared.recordedCount > recordedAtStart || !busy,
        ]
    }
}

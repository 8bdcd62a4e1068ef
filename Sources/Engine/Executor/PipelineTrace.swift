import Foundation
import Kernels

/// A timeline of what every pipeline rank hosted in this process did: spans on each rank's loop thread and relay
/// thread, tagged with the micro-batch they worked on, written as Chrome-trace / Perfetto JSON
/// (`EngineOptions.trace`, `--trace FILE.json`). Without a trace the loop records nothing and pays one nil check
/// per step.
public final class PipelineTrace: Sendable {
    /// What a span covers.
    public enum Activity: String, Sendable {
        case schedule = "schedule"
        case waitPlan = "wait for plan"
        case waitActivations = "wait for activations"
        case forward = "forward"
        case waitRelay = "wait for relay"
        case waitCount = "wait for count"
        case handle = "handle"
        case relayReceive = "relay: receive sample state"

        var category: String {
            switch self {
            case .forward: "compute"
            case .schedule, .handle: "loop"
            case .waitPlan, .waitActivations, .waitRelay, .waitCount: "wait"
            case .relayReceive: "relay"
            }
        }
    }

    struct Span: Sendable {
        var activity: Activity
        var rank: Int
        var onRelay: Bool
        var start: UInt64
        var end: UInt64
        var batch: Int?
        var detail: String?
    }

    /// Spans kept at most (about 100 bytes each); later ones are counted, not kept.
    public let capacity: Int
    private let state = Locked<(spans: [Span], dropped: Int, layers: [Int: Range<Int>])>(([], 0, [:]))

    public init(capacity: Int = 4_000_000) {
        self.capacity = capacity
    }

    /// The monotonic clock spans are measured on, in nanoseconds (the same in every process of one host).
    static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    func record(_ activity: Activity, rank: Int, onRelay: Bool = false, from start: UInt64, to end: UInt64,
                batch: Int? = nil, detail: String? = nil) {
        state.withLock { state in
            guard state.spans.count < capacity else {
                state.dropped += 1
                return
            }
            state.spans.append(Span(activity: activity, rank: rank, onRelay: onRelay, start: start, end: end, batch: batch,
                                    detail: detail))
        }
    }

    func describe(rank: Int, layers: Range<Int>) {
        state.withLock { $0.layers[rank] = layers }
    }

    /// Spans recorded so far.
    public var spanCount: Int { state.withLock { $0.spans.count } }

    /// Spans that did not fit in `capacity`.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// The Chrome-trace JSON: one lane (thread) per rank's loop and one per relay, times in microseconds of the
    /// host's monotonic clock, so the files of several processes on one host line up.
    public func chromeTraceJSON() -> Data {
        let (spans, dropped, layers) = state.withLock { ($0.spans, $0.dropped, $0.layers) }
        var events: [[String: Any]] = []
        let ranks = Set(spans.map(\.rank)).union(layers.keys).sorted()
        for rank in ranks {
            let range = layers[rank].map { " (layers \($0.lowerBound)–\($0.upperBound - 1))" } ?? ""
            events.append(["name": "thread_name", "ph": "M", "pid": 1, "tid": rank * 2, "args": ["name": "rank \(rank)\(range)"]])
            events.append(["name": "thread_name", "ph": "M", "pid": 1, "tid": rank * 2 + 1, "args": ["name": "rank \(rank) relay"]])
            events.append(["name": "thread_sort_index", "ph": "M", "pid": 1, "tid": rank * 2, "args": ["sort_index": rank * 2]])
            events.append(["name": "thread_sort_index", "ph": "M", "pid": 1, "tid": rank * 2 + 1, "args": ["sort_index": rank * 2 + 1]])
        }
        events.append(["name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": ["name": "brigade pipeline"]])
        for span in spans {
            var args: [String: Any] = [:]
            if let batch = span.batch { args["batch"] = batch }
            if let detail = span.detail { args["detail"] = detail }
            events.append(["name": span.activity.rawValue, "cat": span.activity.category, "ph": "X", "pid": 1,
                           "tid": span.rank * 2 + (span.onRelay ? 1 : 0),
                           "ts": Double(span.start) / 1000, "dur": Double(span.end &- span.start) / 1000, "args": args])
        }
        let object: [String: Any] = ["traceEvents": events, "displayTimeUnit": "ms",
                                     "otherData": ["producer": "brigade", "dropped_spans": dropped]]
        return (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
    }
}

import Foundation
import Kernels

/// The supervisor's timeline, for `--trace`: one span per pipeline while it serves, one per recovery (the gap its
/// clients see as a pause, with what it was spent on) and an instant for each failure. Times are the host's monotonic
/// clock in microseconds, like the ranks' own traces, so the files of one host line up in Perfetto.
public final class SupervisorTimeline: Sendable {
    private struct Event: Sendable {
        var name: String
        var category: String
        var start: UInt64
        var end: UInt64?
        var detail: String
    }

    private let events = Locked<[Event]>([])

    public init() {}

    private static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    func pipelineStarted(_ generation: Int, hosts: [String]) {
        let event = Event(name: "pipeline \(generation): \(hosts.count) stage\(hosts.count == 1 ? "" : "s")", category: "pipeline",
                          start: Self.now, end: nil, detail: hosts.joined(separator: ", "))
        events.withLock { $0.append(event) }
    }

    /// The serving span of the last pipeline ends; a failure instant and an open recovery span begin.
    func failed(_ message: String) {
        let now = Self.now
        events.withLock { events in
            if let open = events.lastIndex(where: { $0.category == "pipeline" && $0.end == nil }) { events[open].end = now }
            events.append(Event(name: "failure", category: "failure", start: now, end: now, detail: message))
            events.append(Event(name: "recovery", category: "recovery", start: now, end: nil, detail: ""))
        }
    }

    /// The open recovery span ends (with what it was spent on).
    func recovered(_ detail: String) {
        let now = Self.now
        events.withLock { events in
            guard let open = events.lastIndex(where: { $0.category == "recovery" && $0.end == nil }) else { return }
            events[open].end = now
            events[open].detail = detail
        }
    }

    /// Chrome-trace JSON: the supervisor's lane (pipelines and recoveries) and a lane of failures.
    public func chromeTraceJSON() -> Data {
        let now = Self.now
        var trace: [[String: Any]] = [
            ["name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": ["name": "brigade supervisor"]],
            ["name": "thread_name", "ph": "M", "pid": 0, "tid": 0, "args": ["name": "pipelines and recoveries"]],
            ["name": "thread_name", "ph": "M", "pid": 0, "tid": 1, "args": ["name": "failures"]],
        ]
        for event in events.withLock({ $0 }) {
            let end = event.end ?? now
            if event.category == "failure" {
                trace.append(["name": event.name, "cat": event.category, "ph": "i", "s": "p", "pid": 0, "tid": 1,
                              "ts": Double(event.start) / 1000, "args": ["detail": event.detail]])
            } else {
                trace.append(["name": event.name, "cat": event.category, "ph": "X", "pid": 0, "tid": 0, "ts": Double(event.start) / 1000,
                              "dur": Double(end - event.start) / 1000, "args": ["detail": event.detail]])
            }
        }
        let object: [String: Any] = ["traceEvents": trace, "displayTimeUnit": "ms", "otherData": ["producer": "brigade supervisor"]]
        return (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
    }
}

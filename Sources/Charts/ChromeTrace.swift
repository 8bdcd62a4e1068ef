import Foundation

/// A Chrome-trace / Perfetto JSON trace as Brigade writes it, reduced to what the charts need: spans on lanes,
/// and the names of those lanes.
///
/// Accepted input is `{"traceEvents": [...], "displayTimeUnit": "ms"}` or a bare array of events, with
/// - complete spans `{"ph": "X", "name", "cat", "ts", "dur", "pid", "tid", "args": {"batch": 3, ...}}`
///   (`ts` and `dur` in microseconds),
/// - begin/end pairs `"B"`/`"E"`, matched last-in-first-out per (pid, tid) in timestamp order and turned into spans,
/// - metadata `{"ph": "M", "name": "thread_name" | "process_name", "pid", "tid", "args": {"name": "rank 0"}}`.
///
/// Instant (`"i"`, `"I"`), counter, async, flow and other events are ignored.
public struct ChromeTrace: Sendable, Equatable {
    /// A timeline row: one thread (`tid`) of one process (`pid`).
    public struct Lane: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var pid: Int
        public var tid: Int

        public init(pid: Int, tid: Int) {
            self.pid = pid
            self.tid = tid
        }

        /// Ordered by pid, then tid.
        public static func < (lhs: Lane, rhs: Lane) -> Bool {
            (lhs.pid, lhs.tid) < (rhs.pid, rhs.tid)
        }

        /// `pid P tid T`.
        public var description: String { "pid \(pid) tid \(tid)" }
    }

    /// One interval of work on a lane.
    public struct Span: Sendable, Equatable {
        public var name: String
        /// The event's `cat` (empty when absent).
        public var category: String
        /// Start time in microseconds.
        public var start: Double
        /// Duration in microseconds.
        public var duration: Double
        public var pid: Int
        public var tid: Int
        /// `args.batch` when it is an integer (or a string holding one).
        public var batch: Int?
        /// All of the event's `args`, rendered as strings (numbers without trailing `.0`, objects as JSON).
        public var args: [String: String]
        /// Index in `traceEvents` of the event this span came from (the `"B"` event for begin/end pairs);
        /// `nil` for spans built in code.
        public var eventIndex: Int?

        public init(
            name: String, category: String = "", start: Double, duration: Double, pid: Int = 0, tid: Int = 0,
            batch: Int? = nil, args: [String: String] = [:], eventIndex: Int? = nil
        ) {
            self.name = name
            self.category = category
            self.start = start
            self.duration = duration
            self.pid = pid
            self.tid = tid
            self.batch = batch
            self.args = args
            self.eventIndex = eventIndex
        }

        /// `start + duration`, in microseconds.
        public var end: Double { start + duration }

        /// The lane the span is on.
        public var lane: Lane { Lane(pid: pid, tid: tid) }
    }

    /// The spans, in the order of their (begin) events in the file.
    public var spans: [Span]
    /// Lane names from `thread_name` metadata.
    public var laneNames: [Lane: String]
    /// Process names from `process_name` metadata, by pid.
    public var processNames: [Int: String]
    /// The top-level `displayTimeUnit`, if present.
    public var displayTimeUnit: String?

    /// A trace built in code.
    public init(
        spans: [Span] = [], laneNames: [Lane: String] = [:], processNames: [Int: String] = [:],
        displayTimeUnit: String? = nil
    ) {
        self.spans = spans
        self.laneNames = laneNames
        self.processNames = processNames
        self.displayTimeUnit = displayTimeUnit
    }

    /// Parses Chrome-trace JSON. Throws on malformed JSON, unusable events (missing or non-integer `pid`/`tid`,
    /// missing or non-finite `ts`/`dur`, negative `dur`), an `"E"` without a `"B"`, a `"B"` never closed, and
    /// improperly nested begin/end pairs. It does not check for overlapping spans; call
    /// ``validate(exclusiveCategories:tolerance:)`` for that.
    public init(data: Data) throws(ChromeTraceError) {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw .malformedJSON(reason: reason ?? String(describing: error))
        }
        let events: [Any]
        if let object = root as? [String: Any], let list = object["traceEvents"] as? [Any] {
            events = list
            displayTimeUnit = object["displayTimeUnit"] as? String
        } else if let list = root as? [Any] {
            events = list
            displayTimeUnit = nil
        } else {
            throw .missingTraceEvents
        }
        spans = []
        laneNames = [:]
        processNames = [:]

        var beginEnds: [Lane: [BeginEnd]] = [:]
        for (index, element) in events.enumerated() {
            guard let event = element as? [String: Any] else {
                throw .invalidEvent(index: index, reason: "event is not a JSON object")
            }
            guard let phase = event["ph"] as? String else {
                throw .invalidEvent(index: index, reason: #"missing "ph" (event phase)"#)
            }
            switch phase {
            case "X":
                var span = try Self.spanFields(of: event, index: index)
                guard let duration = Self.number(event["dur"]) else {
                    throw .invalidEvent(index: index, reason: #""X" event '\#(span.name)' has no numeric "dur""#)
                }
                guard duration.isFinite, duration >= 0 else {
                    let reason = #""X" event '\#(span.name)' has invalid "dur" \#(duration) (must be finite and >= 0)"#
                    throw .invalidEvent(index: index, reason: reason)
                }
                span.duration = duration
                spans.append(span)
            case "B", "E":
                let span = try Self.spanFields(of: event, index: index)
                beginEnds[span.lane, default: []].append(BeginEnd(isBegin: phase == "B", span: span))
            case "M":
                try readMetadata(event, index: index)
            default:
                continue  // instant, counter, async, flow, sample, ... events carry no spans
            }
        }
        for lane in beginEnds.keys.sorted() {
            spans += try Self.pair(beginEnds[lane] ?? [], lane: lane)
        }
        spans.sort { ($0.eventIndex ?? .max) < ($1.eventIndex ?? .max) }
    }

    /// A `"B"` or `"E"` event awaiting matching.
    private struct BeginEnd {
        var isBegin: Bool
        var span: Span
    }

    /// Matches one lane's begin/end events last-in-first-out, in timestamp order (ties in file order).
    private static func pair(_ events: [BeginEnd], lane: Lane) throws(ChromeTraceError) -> [Span] {
        let ordered = events.sorted {
            ($0.span.start, $0.span.eventIndex ?? 0) < ($1.span.start, $1.span.eventIndex ?? 0)
        }
        var open: [Span] = []
        var result: [Span] = []
        for event in ordered {
            let index = event.span.eventIndex ?? 0
            if event.isBegin {
                open.append(event.span)
                continue
            }
            guard var begin = open.popLast() else {
                throw .unmatchedEnd(index: index, lane: lane, name: event.span.name.isEmpty ? nil : event.span.name)
            }
            if !event.span.name.isEmpty && event.span.name != begin.name {
                throw .mismatchedEnd(
                    index: index, lane: lane, name: event.span.name, beginIndex: begin.eventIndex ?? 0,
                    beginName: begin.name)
            }
            begin.duration = event.span.start - begin.start
            begin.args.merge(event.span.args) { _, endValue in endValue }
            begin.batch = begin.batch ?? event.span.batch
            result.append(begin)
        }
        if let unclosed = open.first {
            throw .unclosedBegin(index: unclosed.eventIndex ?? 0, lane: lane, name: unclosed.name)
        }
        return result
    }

    /// Reads `name`, `cat`, `ts`, `pid`, `tid` and `args` of a span event (duration 0).
    private static func spanFields(of event: [String: Any], index: Int) throws(ChromeTraceError) -> Span {
        let name = event["name"] as? String ?? ""
        let (pid, tid) = try laneFields(of: event, index: index)
        guard let start = number(event["ts"]) else {
            throw .invalidEvent(index: index, reason: #"event '\#(name)' has no numeric "ts""#)
        }
        guard start.isFinite else {
            throw .invalidEvent(index: index, reason: #"event '\#(name)' has non-finite "ts" \#(start)"#)
        }
        let rawArgs = event["args"] as? [String: Any] ?? [:]
        var args: [String: String] = [:]
        for (key, value) in rawArgs { args[key] = string(value) }
        return Span(
            name: name, category: event["cat"] as? String ?? "", start: start, duration: 0, pid: pid, tid: tid,
            batch: integer(rawArgs["batch"]), args: args, eventIndex: index)
    }

    private static func laneFields(of event: [String: Any], index: Int) throws(ChromeTraceError) -> (Int, Int) {
        guard let pid = integer(event["pid"]) else {
            throw .invalidEvent(index: index, reason: #"missing or non-integer "pid""#)
        }
        guard let tid = integer(event["tid"]) else {
            throw .invalidEvent(index: index, reason: #"missing or non-integer "tid""#)
        }
        return (pid, tid)
    }

    private mutating func readMetadata(_ event: [String: Any], index: Int) throws(ChromeTraceError) {
        let kind = event["name"] as? String
        guard kind == "thread_name" || kind == "process_name" else { return }
        guard let name = (event["args"] as? [String: Any])?["name"] as? String else {
            throw .invalidEvent(index: index, reason: #""\#(kind ?? "")" metadata has no string "args.name""#)
        }
        guard let pid = Self.integer(event["pid"]) else {
            throw .invalidEvent(index: index, reason: #"missing or non-integer "pid""#)
        }
        if kind == "process_name" {
            processNames[pid] = name
        } else {
            let (_, tid) = try Self.laneFields(of: event, index: index)
            laneNames[Lane(pid: pid, tid: tid)] = name
        }
    }

    // MARK: JSON value helpers

    /// The class JSONSerialization uses for `true` and `false` (a private NSNumber subclass).
    private static let booleanClass: ObjectIdentifier? = {
        let parsed = try? JSONSerialization.jsonObject(with: Data("[true]".utf8)) as? [Any]
        return (parsed?.first as? NSNumber).map { ObjectIdentifier(type(of: $0)) }
    }()

    private static func isBoolean(_ number: NSNumber) -> Bool {
        if let booleanClass { return ObjectIdentifier(type(of: number)) == booleanClass }
        return String(cString: number.objCType) == "c"
    }

    /// A JSON number (not a boolean) as a Double.
    static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        return number.doubleValue
    }

    /// A JSON number with an integral value that fits in `Int`, or a string holding a decimal integer.
    static func integer(_ value: Any?) -> Int? {
        if let text = value as? String { return Int(text) }
        guard let double = number(value) else { return nil }
        if let number = value as? NSNumber, double.magnitude >= 9.0e15 { return Int(exactly: number.int64Value) }
        return Int(exactly: double)
    }

    /// An `args` value as text: strings as is, integral numbers without `.0`, objects and arrays as JSON.
    static func string(_ value: Any) -> String {
        if let text = value as? String { return text }
        if let number = value as? NSNumber, isBoolean(number) { return number.boolValue ? "true" : "false" }
        if value is NSNull { return "null" }
        if let double = number(value) {
            if let integer = Int(exactly: double) { return String(integer) }
            return double.description
        }
        if JSONSerialization.isValidJSONObject(value),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]),
            let text = String(data: data, encoding: .utf8)
        {
            return text
        }
        return String(describing: value)
    }

    /// Microseconds with at most three decimals (nanosecond resolution), for messages and tooltips.
    static func formatMicroseconds(_ value: Double) -> String {
        guard value.isFinite else { return value.description }
        if value.magnitude >= 1e12 { return String(format: "%.0f", value) }
        return SVG.number(value, maxDecimals: 3)
    }
}

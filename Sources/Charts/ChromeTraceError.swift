/// Why a Chrome trace could not be read, or why it failed ``ChromeTrace/validate(exclusiveCategories:tolerance:)``.
///
/// Every case says what is wrong and where: the index of the event in `traceEvents` and, for span problems, the
/// lane (pid, tid and its name when the trace names it).
public enum ChromeTraceError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The data is not JSON at all (or JSON that Foundation cannot represent, such as `NaN`).
    case malformedJSON(reason: String)
    /// The JSON is neither `{"traceEvents": [...]}` nor a bare array of events.
    case missingTraceEvents
    /// Event `index` is unusable: not an object, a missing or mistyped field, a non-finite time, a negative duration.
    case invalidEvent(index: Int, reason: String)
    /// An `"E"` event at `index` has no open `"B"` event on its lane.
    case unmatchedEnd(index: Int, lane: ChromeTrace.Lane, name: String?)
    /// The `"B"` event at `index` is never closed by an `"E"` on its lane.
    case unclosedBegin(index: Int, lane: ChromeTrace.Lane, name: String)
    /// The `"E"` at `index` names a different span than the innermost open `"B"` (at `beginIndex`) on its lane,
    /// so begin/end pairs are not properly nested.
    case mismatchedEnd(index: Int, lane: ChromeTrace.Lane, name: String, beginIndex: Int, beginName: String)
    /// A span has a non-finite start or duration, or a negative duration.
    case invalidSpan(span: ChromeTrace.Span, laneName: String, reason: String)
    /// Two spans on one lane partially overlap: `second` starts inside `first` but ends after it.
    case overlap(lane: ChromeTrace.Lane, laneName: String, first: ChromeTrace.Span, second: ChromeTrace.Span)

    public var description: String {
        switch self {
        case .malformedJSON(let reason):
            return "Chrome trace is not valid JSON: \(reason)"
        case .missingTraceEvents:
            return #"Chrome trace has no "traceEvents" array (expected {"traceEvents": [...]} or a JSON array of events)"#
        case .invalidEvent(let index, let reason):
            return "traceEvents[\(index)]: \(reason)"
        case .unmatchedEnd(let index, let lane, let name):
            let what = name.map { " '\($0)'" } ?? ""
            return #"traceEvents[\#(index)]: "E" event\#(what) on \#(lane) has no matching "B" event"#
        case .unclosedBegin(let index, let lane, let name):
            return #"traceEvents[\#(index)]: "B" event '\#(name)' on \#(lane) is never closed by an "E" event"#
        case .mismatchedEnd(let index, let lane, let name, let beginIndex, let beginName):
            return #"traceEvents[\#(index)]: "E" event '\#(name)' on \#(lane) would close '\#(beginName)' "#
                + "(traceEvents[\(beginIndex)]); begin/end pairs must nest"
        case .invalidSpan(let span, let laneName, let reason):
            return "span \(Self.describe(span)) on lane '\(laneName)' (\(span.lane)): \(reason)"
        case .overlap(let lane, let laneName, let first, let second):
            return "lane '\(laneName)' (\(lane)): span \(Self.describe(second)) partially overlaps span "
                + "\(Self.describe(first)) by \(ChromeTrace.formatMicroseconds(first.end - second.start)) µs"
        }
    }

    /// `'name' [start–end µs] (traceEvents[i])`.
    static func describe(_ span: ChromeTrace.Span) -> String {
        let start = ChromeTrace.formatMicroseconds(span.start)
        let end = ChromeTrace.formatMicroseconds(span.end)
        let origin = span.eventIndex.map { " (traceEvents[\($0)])" } ?? ""
        return "'\(span.name)' [\(start)–\(end) µs]\(origin)"
    }
}

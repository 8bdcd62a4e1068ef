extension ChromeTrace {
    /// Every lane that has spans or a `thread_name`, sorted by pid, then tid.
    public var lanes: [Lane] {
        var set = Set(laneNames.keys)
        for span in spans { set.insert(span.lane) }
        return set.sorted()
    }

    /// The lane's display name: its `thread_name`; else `<process_name> tid T`; else `pid P tid T`.
    public func name(of lane: Lane) -> String {
        if let name = laneNames[lane] { return name }
        if let process = processNames[lane.pid] { return "\(process) tid \(lane.tid)" }
        return lane.description
    }

    /// The spans of each lane, in file order.
    public func spansByLane() -> [Lane: [Span]] {
        Dictionary(grouping: spans, by: \.lane)
    }

    /// From the earliest start to the latest end over spans with finite times; `nil` when there are none.
    public var timeRange: ClosedRange<Double>? {
        var lower = Double.infinity
        var upper = -Double.infinity
        for span in spans where span.start.isFinite && span.end.isFinite && span.duration >= 0 {
            lower = min(lower, span.start)
            upper = max(upper, span.end)
        }
        return lower <= upper ? lower...upper : nil
    }

    /// The fraction (0...1) of `range` — by default ``timeRange`` — covered by the union of the lane's spans,
    /// so nested or overlapping spans count once. Zero for an empty range.
    public func busyFraction(of lane: Lane, in range: ClosedRange<Double>? = nil) -> Double {
        guard let range = range ?? timeRange else { return 0 }
        return Self.busyFraction(of: spans.filter { $0.lane == lane }, in: range)
    }

    /// The fraction of `range` covered by the union of `spans` (clipped to the range).
    static func busyFraction(of spans: [Span], in range: ClosedRange<Double>) -> Double {
        let length = range.upperBound - range.lowerBound
        guard length > 0, length.isFinite else { return 0 }
        var intervals: [(Double, Double)] = []
        intervals.reserveCapacity(spans.count)
        for span in spans where span.start.isFinite && span.end.isFinite {
            let start = max(span.start, range.lowerBound)
            let end = min(span.end, range.upperBound)
            if end > start { intervals.append((start, end)) }
        }
        intervals.sort { $0.0 < $1.0 }
        var covered = 0.0
        var currentStart = -Double.infinity
        var currentEnd = -Double.infinity
        for (start, end) in intervals {
            if start > currentEnd {
                if currentEnd > currentStart { covered += currentEnd - currentStart }
                (currentStart, currentEnd) = (start, end)
            } else {
                currentEnd = max(currentEnd, end)
            }
        }
        if currentEnd > currentStart { covered += currentEnd - currentStart }
        return min(max(covered / length, 0), 1)
    }

    /// Checks that the trace is physically plausible.
    ///
    /// - Every span has a finite start, a finite duration ≥ 0 and a finite end.
    /// - On each lane (pid, tid), spans do not *partially* overlap. A span may start exactly where another ends,
    ///   and a span entirely inside another (a nested sub-step) is fine; one that starts inside another and ends
    ///   after it is an error. Overlaps of at most `tolerance` µs (writer rounding; 1 ns by default) are ignored.
    ///
    /// - Parameters:
    ///   - exclusiveCategories: When given, only spans whose `category` is in this set are checked for overlap
    ///     (for example the compute spans of a rank, while communication spans may run alongside).
    ///     `nil` checks every span.
    ///   - tolerance: Overlap in microseconds that is still treated as touching.
    /// - Throws: ``ChromeTraceError/invalidSpan(span:laneName:reason:)`` or
    ///   ``ChromeTraceError/overlap(lane:laneName:first:second:)`` naming the lane, both spans and their times.
    public func validate(exclusiveCategories: Set<String>? = nil, tolerance: Double = 0.001) throws(ChromeTraceError) {
        for span in spans {
            let reason: String? =
                if !span.start.isFinite { "start \(span.start) is not finite" }
                else if !span.duration.isFinite { "duration \(span.duration) is not finite" }
                else if span.duration < 0 { "duration \(span.duration) µs is negative" }
                else if !span.end.isFinite { "end is not finite" }
                else { nil }
            if let reason { throw .invalidSpan(span: span, laneName: name(of: span.lane), reason: reason) }
        }
        let checked = exclusiveCategories.map { categories in spans.filter { categories.contains($0.category) } } ?? spans
        let byLane = Dictionary(grouping: checked, by: \.lane)
        for lane in byLane.keys.sorted() {
            // Outer spans first: by start, then longest first, so a parent precedes the spans nested in it.
            let ordered = (byLane[lane] ?? []).sorted { ($0.start, -$0.end) < ($1.start, -$1.end) }
            var open: [Span] = []  // a chain of spans, each nested in the previous one
            for span in ordered {
                while let top = open.last, top.end <= span.start + tolerance { open.removeLast() }
                if let top = open.last, span.end > top.end + tolerance {
                    throw .overlap(lane: lane, laneName: name(of: lane), first: top, second: span)
                }
                open.append(span)
            }
        }
    }
}

import Foundation
import Testing

import Charts

/// Parses `json`, returning the error it throws (or `nil` when it parses).
private func parseError(_ json: String) -> ChromeTraceError? {
    do {
        _ = try ChromeTrace(data: Data(json.utf8))
        return nil
    } catch {
        return error
    }
}

private func trace(_ json: String) throws -> ChromeTrace {
    try ChromeTrace(data: Data(json.utf8))
}

@Suite struct ChromeTraceParsingTests {
    @Test func parsesCompleteSpansAndLaneNames() throws {
        let parsed = try trace(
            """
            {"traceEvents": [
              {"name": "thread_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "rank 0"}},
              {"name": "process_name", "ph": "M", "pid": 2, "args": {"name": "worker"}},
              {"name": "forward", "cat": "compute", "ph": "X", "ts": 100.5, "dur": 250, "pid": 1, "tid": 0,
               "args": {"batch": 3, "phase": "decode", "tokens": 128, "ratio": 0.5, "last": true, "ids": [1, 2]}},
              {"name": "send", "cat": "comm", "ph": "X", "ts": 400, "dur": 0, "pid": 2, "tid": 7},
              {"name": "mark", "ph": "i", "ts": 5, "pid": 1, "tid": 0, "s": "t"}
            ], "displayTimeUnit": "ms"}
            """)
        #expect(parsed.spans.count == 2)
        #expect(parsed.displayTimeUnit == "ms")
        let forward = parsed.spans[0]
        #expect(forward.name == "forward")
        #expect(forward.category == "compute")
        #expect(forward.start == 100.5)
        #expect(forward.duration == 250)
        #expect(forward.end == 350.5)
        #expect(forward.lane == ChromeTrace.Lane(pid: 1, tid: 0))
        #expect(forward.batch == 3)
        #expect(forward.eventIndex == 2)
        #expect(forward.args["phase"] == "decode")
        #expect(forward.args["tokens"] == "128")
        #expect(forward.args["ratio"] == "0.5")
        #expect(forward.args["last"] == "true")
        #expect(forward.args["ids"] == "[1,2]")
        #expect(parsed.spans[1].batch == nil)
        #expect(parsed.spans[1].category == "comm")
        #expect(parsed.laneNames == [ChromeTrace.Lane(pid: 1, tid: 0): "rank 0"])
        #expect(parsed.processNames == [2: "worker"])
        #expect(parsed.name(of: ChromeTrace.Lane(pid: 1, tid: 0)) == "rank 0")
        #expect(parsed.name(of: ChromeTrace.Lane(pid: 2, tid: 7)) == "worker tid 7")
        #expect(parsed.name(of: ChromeTrace.Lane(pid: 3, tid: 4)) == "pid 3 tid 4")
        #expect(parsed.lanes == [ChromeTrace.Lane(pid: 1, tid: 0), ChromeTrace.Lane(pid: 2, tid: 7)])
        #expect(parsed.timeRange == 100.5...400)
    }

    @Test func acceptsABareEventArray() throws {
        let parsed = try trace(#"[{"name": "a", "ph": "X", "ts": 0, "dur": 5, "pid": 0, "tid": 0, "args": {"batch": "7"}}]"#)
        #expect(parsed.spans.count == 1)
        #expect(parsed.spans[0].batch == 7)
    }

    @Test func pairsBeginEndEventsLastInFirstOut() throws {
        let parsed = try trace(
            """
            {"traceEvents": [
              {"name": "step", "cat": "engine", "ph": "B", "ts": 0, "pid": 0, "tid": 1, "args": {"batch": 2}},
              {"name": "attention", "ph": "B", "ts": 10, "pid": 0, "tid": 1},
              {"name": "other lane", "ph": "B", "ts": 12, "pid": 0, "tid": 2},
              {"ph": "E", "ts": 20, "pid": 0, "tid": 1, "args": {"flops": 42}},
              {"name": "other lane", "ph": "E", "ts": 30, "pid": 0, "tid": 2},
              {"name": "step", "ph": "E", "ts": 50, "pid": 0, "tid": 1}
            ]}
            """)
        #expect(parsed.spans.map(\.name) == ["step", "attention", "other lane"])
        let step = parsed.spans[0]
        #expect(step.start == 0 && step.duration == 50)
        #expect(step.category == "engine")
        #expect(step.batch == 2)
        let attention = parsed.spans[1]
        #expect(attention.start == 10 && attention.duration == 10)
        #expect(attention.args["flops"] == "42")
        #expect(attention.eventIndex == 1)
        #expect(parsed.spans[2].lane == ChromeTrace.Lane(pid: 0, tid: 2))
        #expect(parsed.spans[2].duration == 18)
        try parsed.validate()  // nested begin/end spans are fine
    }

    @Test func rejectsMalformedJSON() {
        guard case .malformedJSON = parseError(#"{"traceEvents": [{"ph": "X""#) else {
            Issue.record("truncated JSON must be rejected")
            return
        }
        #expect(parseError(#"{"events": []}"#) == .missingTraceEvents)
        #expect(parseError(#"{"traceEvents": [42]}"#) == .invalidEvent(index: 0, reason: "event is not a JSON object"))
        #expect(parseError(#"{"traceEvents": [{"name": "x", "ts": 1}]}"#)?.description.contains(#""ph""#) == true)
    }

    @Test func rejectsAnUnclosedBegin() {
        let error = parseError(
            #"[{"name": "ok", "ph": "X", "ts": 0, "dur": 1, "pid": 0, "tid": 0}, {"name": "hang", "ph": "B", "ts": 5, "pid": 3, "tid": 4}]"#)
        #expect(error == .unclosedBegin(index: 1, lane: ChromeTrace.Lane(pid: 3, tid: 4), name: "hang"))
        #expect(error?.description.contains("pid 3 tid 4") == true)
        #expect(error?.description.contains("traceEvents[1]") == true)
    }

    @Test func rejectsAnEndWithoutBegin() {
        let error = parseError(#"[{"name": "late", "ph": "E", "ts": 5, "pid": 0, "tid": 9}]"#)
        #expect(error == .unmatchedEnd(index: 0, lane: ChromeTrace.Lane(pid: 0, tid: 9), name: "late"))
        // An "E" before its "B" in time is also unmatched.
        let early = parseError(#"[{"name": "a", "ph": "B", "ts": 10, "pid": 0, "tid": 0}, {"name": "a", "ph": "E", "ts": 5, "pid": 0, "tid": 0}]"#)
        #expect(early == .unmatchedEnd(index: 1, lane: ChromeTrace.Lane(pid: 0, tid: 0), name: "a"))
    }

    @Test func rejectsImproperlyNestedBeginEnd() {
        let error = parseError(
            #"[{"name": "a", "ph": "B", "ts": 0, "pid": 0, "tid": 0}, {"name": "b", "ph": "B", "ts": 1, "pid": 0, "tid": 0}, {"name": "a", "ph": "E", "ts": 2, "pid": 0, "tid": 0}, {"name": "b", "ph": "E", "ts": 3, "pid": 0, "tid": 0}]"#)
        #expect(error == .mismatchedEnd(index: 2, lane: ChromeTrace.Lane(pid: 0, tid: 0), name: "a", beginIndex: 1, beginName: "b"))
    }

    @Test func rejectsBadNumbers() {
        let negative = parseError(#"[{"name": "f", "ph": "X", "ts": 0, "dur": -3, "pid": 0, "tid": 0}]"#)
        guard case .invalidEvent(index: 0, let reason) = negative else {
            Issue.record("negative dur must be rejected, got \(String(describing: negative))")
            return
        }
        #expect(reason.contains("dur"))
        // JSON has no NaN; a writer that prints one produces invalid JSON.
        guard case .malformedJSON = parseError(#"[{"name": "f", "ph": "X", "ts": NaN, "dur": 1, "pid": 0, "tid": 0}]"#) else {
            Issue.record("NaN must be rejected")
            return
        }
        #expect(parseError(#"[{"name": "f", "ph": "X", "ts": "NaN", "dur": 1, "pid": 0, "tid": 0}]"#)
            == .invalidEvent(index: 0, reason: #"event 'f' has no numeric "ts""#))
        #expect(parseError(#"[{"name": "f", "ph": "X", "ts": 0, "pid": 0, "tid": 0}]"#)?.description.contains("dur") == true)
        #expect(parseError(#"[{"name": "f", "ph": "X", "ts": 0, "dur": 1, "tid": 0}]"#)
            == .invalidEvent(index: 0, reason: #"missing or non-integer "pid""#))
        #expect(parseError(#"[{"name": "f", "ph": "X", "ts": 0, "dur": 1, "pid": 0, "tid": 1.5}]"#)
            == .invalidEvent(index: 0, reason: #"missing or non-integer "tid""#))
        #expect(parseError(#"[{"name": "f", "ph": "X", "ts": 0, "dur": 1, "pid": true, "tid": 0}]"#)
            == .invalidEvent(index: 0, reason: #"missing or non-integer "pid""#))
        #expect(parseError(#"[{"name": "thread_name", "ph": "M", "pid": 0, "tid": 0, "args": {}}]"#)?
            .description.contains("args.name") == true)
    }
}

@Suite struct ChromeTraceValidationTests {
    private static let lane = ChromeTrace.Lane(pid: 0, tid: 1)

    private func span(_ name: String, _ start: Double, _ duration: Double, category: String = "compute") -> ChromeTrace.Span {
        ChromeTrace.Span(name: name, category: category, start: start, duration: duration, pid: 0, tid: 1)
    }

    @Test func acceptsTouchingAndNestedSpans() throws {
        let trace = ChromeTrace(spans: [
            span("a", 0, 100), span("b", 100, 50), span("b.1", 100, 20), span("b.2", 120, 30),
            span("b.2.x", 125, 5), span("c", 150, 0), span("d", 150, 10),
            ChromeTrace.Span(name: "other lane", start: 0, duration: 1000, pid: 0, tid: 2),
        ])
        try trace.validate()
    }

    @Test func catchesAPartialOverlapAndNamesTheLane() {
        let trace = ChromeTrace(
            spans: [span("forward", 0, 100), span("recv", 200, 10), span("backward", 80, 40)],
            laneNames: [Self.lane: "rank 1"])
        do {
            try trace.validate()
            Issue.record("overlap not detected")
        } catch {
            guard case .overlap(let lane, let laneName, let first, let second) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(lane == Self.lane)
            #expect(laneName == "rank 1")
            #expect(first.name == "forward")
            #expect(second.name == "backward")
            let message = error.description
            #expect(message.contains("rank 1"))
            #expect(message.contains("pid 0 tid 1"))
            #expect(message.contains("'forward' [0–100 µs]"))
            #expect(message.contains("'backward' [80–120 µs]"))
        }
    }

    @Test func overlapInsideANestedSpanIsCaught() {
        let trace = ChromeTrace(spans: [span("outer", 0, 100), span("x", 10, 30), span("y", 30, 20)])
        #expect(throws: ChromeTraceError.self) { try trace.validate() }
    }

    @Test func exclusiveCategoriesLimitTheOverlapCheck() throws {
        let trace = ChromeTrace(spans: [span("forward", 0, 100), span("send", 50, 100, category: "comm")])
        #expect(throws: ChromeTraceError.self) { try trace.validate() }
        try trace.validate(exclusiveCategories: ["compute"])
    }

    @Test func toleratesRoundingAtBoundaries() throws {
        try ChromeTrace(spans: [span("a", 0, 100.0005), span("b", 100, 10)]).validate()
        #expect(throws: ChromeTraceError.self) {
            try ChromeTrace(spans: [span("a", 0, 100.01), span("b", 100, 10)]).validate()
        }
    }

    @Test func rejectsNonFiniteAndNegativeSpans() {
        for bad in [span("nan", .nan, 1), span("inf", 0, .infinity), span("neg", 10, -1)] {
            do {
                try ChromeTrace(spans: [span("fine", 0, 1), bad]).validate()
                Issue.record("\(bad.name) accepted")
            } catch {
                guard case .invalidSpan(let offending, let laneName, _) = error else {
                    Issue.record("unexpected error \(error)")
                    continue
                }
                #expect(offending.name == bad.name)
                #expect(laneName == "pid 0 tid 1")
                #expect(error.description.contains("'\(bad.name)'"))
            }
        }
    }

    @Test func busyFractionIsTheUnionOverTheTraceRange() {
        let other = ChromeTrace.Span(name: "full", start: 0, duration: 1000, pid: 0, tid: 2)
        let trace = ChromeTrace(spans: [span("a", 0, 300), span("a.1", 100, 100), span("b", 500, 450), other])
        #expect(abs(trace.busyFraction(of: Self.lane) - 0.75) < 1e-12)
        #expect(trace.busyFraction(of: other.lane) == 1)
        #expect(abs(trace.busyFraction(of: Self.lane, in: 0...500) - 0.6) < 1e-12)
        #expect(ChromeTrace().busyFraction(of: Self.lane) == 0)
    }
}

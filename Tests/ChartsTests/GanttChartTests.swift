import Foundation
import Testing

import Charts

@Suite struct GanttChartTests {
    private typealias Span = ChromeTrace.Span

    /// Three lanes over 0...1000 µs: rank 0 busy 75% (with a nested span), rank 1 fully busy, and an unnamed
    /// lane on another process.
    private static let sample = ChromeTrace(
        spans: [
            Span(name: "forward", start: 0, duration: 300, pid: 0, tid: 0, batch: 1),
            Span(name: "matmul", start: 100, duration: 100, pid: 0, tid: 0, batch: 1),
            Span(name: "forward", start: 500, duration: 450, pid: 0, tid: 0, batch: 2),
            Span(name: "forward", start: 0, duration: 1000, pid: 0, tid: 1, batch: 1),
            Span(name: "idle check", start: 200, duration: 100, pid: 5, tid: 3),
        ],
        laneNames: [ChromeTrace.Lane(pid: 0, tid: 0): "rank 0", ChromeTrace.Lane(pid: 0, tid: 1): "rank 1"])

    @Test func rendersWellFormedSVGWithOneLabelPerLane() throws {
        let svg = GanttChart(trace: Self.sample, title: "Pipeline <2 ranks> & more").svg()
        let elements = try #require(parseXML(svg))
        #expect(elements.first?.name == "svg")
        let labels = elements.withClass("lane-label").map(\.text)
        #expect(labels == ["rank 0 — 75% busy", "rank 1 — 100% busy", "pid 5 tid 3 — 10% busy"])
        #expect(elements.withClass("lane").count == 3)
        #expect(elements.withClass("title").first?.text == "Pipeline <2 ranks> & more")
        #expect(elements.withClass("span").count == 5)
    }

    @Test func tooltipsNameSpanBatchAndTimes() throws {
        let elements = try #require(parseXML(GanttChart(trace: Self.sample).svg()))
        let titles = Set(elements.withClass("span").compactMap(\.title))
        #expect(titles.contains("forward · batch 2 · 0.5–0.95 ms"))
        #expect(titles.contains("matmul · batch 1 · 0.1–0.2 ms"))
        #expect(titles.contains("idle check · 0.2–0.3 ms"))
    }

    @Test func coloursFollowTheBatch() throws {
        let elements = try #require(parseXML(GanttChart(trace: Self.sample).svg()))
        var fills: [String: Set<String>] = [:]
        for rect in elements.withClass("span") {
            let title = try #require(rect.title)
            let batch = title.split(separator: " · ").first { $0.hasPrefix("batch ") }.map(String.init) ?? "none"
            fills[batch, default: []].insert(try #require(rect.attributes["fill"]))
        }
        let batch1 = try #require(fills["batch 1"])
        let batch2 = try #require(fills["batch 2"])
        let none = try #require(fills["none"])
        #expect(batch1.count == 1)  // same batch, same colour on every lane
        #expect(batch1 != batch2)
        #expect(none == [Palette.neutral])
        #expect(!batch1.contains(Palette.neutral) && !batch2.contains(Palette.neutral))
        #expect(Palette.color(forBatch: 13) == Palette.color(forBatch: 1))
        #expect(Palette.color(forBatch: -1) == Palette.qualitative.last)
    }

    @Test func idleGapsStayBackground() throws {
        let elements = try #require(parseXML(GanttChart(trace: Self.sample, width: 1000).svg()))
        let lane = try #require(elements.withClass("lane").first)
        let laneY = try #require(Double(lane.attributes["y"] ?? ""))
        let laneHeight = try #require(Double(lane.attributes["height"] ?? ""))
        // Rects of rank 0 (the first lane) must leave the 300...500 µs gap uncovered.
        let laneRects = elements.withClass("span").filter {
            guard let y = Double($0.attributes["y"] ?? "") else { return false }
            return y >= laneY && y < laneY + laneHeight
        }
        #expect(laneRects.count == 3)
        let spans = laneRects.compactMap { rect -> (Double, Double)? in
            guard let x = Double(rect.attributes["x"] ?? ""), let w = Double(rect.attributes["width"] ?? "") else { return nil }
            return (x, x + w)
        }
        let gapStart = spans.map(\.1).filter { $0 < 700 }.max() ?? 0
        let gapEnd = spans.map(\.0).filter { $0 > gapStart }.min() ?? 0
        #expect(gapEnd - gapStart > 100)  // 200 µs of 1000 on a plot several hundred pixels wide
    }

    @Test func windowZoomsAndRecomputesBusyFraction() throws {
        let chart = GanttChart(trace: Self.sample, window: 500...1000)
        let elements = try #require(parseXML(chart.svg()))
        #expect(elements.withClass("lane-label").map(\.text) == ["rank 0 — 90% busy", "rank 1 — 100% busy", "pid 5 tid 3 — 0% busy"])
        // Only the spans reaching into the window are drawn.
        #expect(elements.withClass("span").count == 2)
        let ticks = elements.withClass("tick-label").compactMap { Double($0.text) }
        #expect(ticks.first ?? 0 >= 0.5 && ticks.last ?? 0 <= 1)
    }

    @Test func timeAxisHasOneTwoFiveTicksInMilliseconds() throws {
        let elements = try #require(parseXML(GanttChart(trace: Self.sample).svg()))
        let ticks = elements.withClass("tick-label").compactMap { Double($0.text) }
        #expect(ticks.count >= 3)
        #expect(ticks.first == 0)
        #expect(ticks.last == 1)
        let steps = zip(ticks.dropFirst(), ticks).map { $0 - $1 }
        #expect(steps.allSatisfy { abs($0 - steps[0]) < 1e-9 && isOneTwoFiveStep($0) })
    }

    @Test func escapesNamesAndHandlesEmptyTraces() throws {
        let weird = ChromeTrace(
            spans: [Span(name: "a\"<b>'&\u{1}", start: 0, duration: 10, pid: 0, tid: 0)],
            laneNames: [ChromeTrace.Lane(pid: 0, tid: 0): "r&d <0>"])
        let elements = try #require(parseXML(GanttChart(trace: weird).svg()))
        #expect(elements.withClass("lane-label").first?.text == "r&d <0> — 100% busy")
        #expect(elements.withClass("span").first?.title?.hasPrefix("a\"<b>'&") == true)

        let empty = try #require(parseXML(GanttChart(trace: ChromeTrace()).svg()))
        #expect(empty.withClass("lane-label").isEmpty)
        #expect(empty.withClass("empty").first?.text == "no spans")
    }

    @Test func mergesNarrowSpansToBoundTheRectCount() throws {
        // 100k spans of 1 µs with 1 µs gaps: 0.2 s over ~1300 px, so each span is ~0.007 px wide.
        let count = 100_000
        func tinyTrace(batch: (Int) -> Int?) -> ChromeTrace {
            ChromeTrace(spans: (0..<count).map { i in
                Span(name: "tick", start: Double(i) * 2, duration: 1, pid: 0, tid: 0, batch: batch(i))
            })
        }
        let width = 1400.0
        let sameBatch = GanttChart(trace: tinyTrace { _ in 4 }, width: width).svg()
        let same = try #require(parseXML(sameBatch))
        let sameRects = same.withClass("span")
        #expect(sameRects.count <= 3)
        #expect(sameRects.first?.title?.hasPrefix("100000 spans · batch 4 · 0–") == true)
        #expect(same.withClass("lane-label").first?.text == "pid 0 tid 0 — 50% busy")

        let mixedBatches = GanttChart(trace: tinyTrace { $0 % 12 }, width: width).svg()
        let mixed = try #require(parseXML(mixedBatches))
        let mixedRects = mixed.withClass("span")
        #expect(mixedRects.count > 1)
        #expect(mixedRects.count <= Int(2 * width))
        #expect(mixedBatches.utf8.count < 1_000_000)
        // Every span is accounted for in exactly one rectangle.
        let covered = mixedRects.compactMap(\.title).reduce(0) { total, title in
            total + (title.hasSuffix("ms") && title.contains(" spans · ") ? Int(title.prefix { $0 != " " }) ?? 1 : 1)
        }
        #expect(covered == count)
    }

    @Test func wideSpansAreNeverMerged() throws {
        let spans = (0..<20).map { i in Span(name: "s\(i)", start: Double(i) * 100, duration: 100, pid: 0, tid: 0, batch: 0) }
        let elements = try #require(parseXML(GanttChart(trace: ChromeTrace(spans: spans)).svg()))
        #expect(elements.withClass("span").count == 20)
    }
}

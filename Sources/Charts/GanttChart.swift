import Foundation

/// An SVG Gantt chart of a ``ChromeTrace``: one horizontal lane per (pid, tid), a rectangle per span coloured by
/// its batch, and idle time (pipeline bubbles) left in the light lane background.
///
/// - Lanes are sorted by pid, then tid, and labelled with their name (see ``ChromeTrace/name(of:)``) and the
///   lane's busy fraction over the shown time range, e.g. `rank 1 — 87% busy` (the union of its spans, so nested
///   spans count once).
/// - Span colours come from ``Palette/color(forBatch:)``: equal batches share a colour, spans without a batch are
///   grey. Spans nested in another span on the same lane are drawn thinner, on top of it.
/// - Each rectangle has a `<title>` tooltip `name · batch N · start–end ms`.
/// - The time axis is in milliseconds since the start of the trace (its earliest span), also when zoomed.
/// - To keep files small for large traces, spans narrower than ``minimumRectWidth`` pixels are coalesced:
///   adjacent narrow spans of one colour become one rectangle, and narrow spans that fit within the first
///   ``minimumRectWidth`` pixels of a rectangle are absorbed by it. A lane thus has at most about two
///   rectangles per pixel and nesting level, however many spans it holds.
public struct GanttChart: Sendable {
    /// Rectangles narrower than this many pixels are merged with their neighbours.
    public static let minimumRectWidth = 0.5

    /// Deepest nesting level drawn distinctly; deeper spans are drawn at this level.
    static let maxDepth = 3

    public var trace: ChromeTrace
    public var title: String?
    /// Total image width in pixels.
    public var width: Double
    /// Height of one lane in pixels.
    public var laneHeight: Double
    /// The shown time range in microseconds (the trace's own timestamps); `nil` shows the whole trace.
    public var window: ClosedRange<Double>?

    public init(
        trace: ChromeTrace, title: String? = nil, width: Double = 1400, laneHeight: Double = 24,
        window: ClosedRange<Double>? = nil
    ) {
        self.trace = trace
        self.title = title
        self.width = width
        self.laneHeight = laneHeight
        self.window = window
    }

    /// The label of `lane` as drawn: `name — NN% busy`, the fraction measured over `range`.
    static func label(name: String, busyFraction: Double) -> String {
        "\(name) — \(Int((busyFraction * 100).rounded()))% busy"
    }

    /// The chart as a standalone SVG document.
    public func svg() -> String {
        let lanes = trace.lanes
        let byLane = trace.spansByLane()
        let traceRange = trace.timeRange
        let origin = traceRange?.lowerBound ?? 0
        var range = traceRange ?? 0...1000
        if let window, window.lowerBound.isFinite, window.upperBound.isFinite { range = window }
        if !(range.upperBound > range.lowerBound) { range = range.lowerBound...(range.lowerBound + 1) }

        let labels = lanes.map { lane in
            let busy = ChromeTrace.busyFraction(of: byLane[lane] ?? [], in: range)
            return Self.label(name: trace.name(of: lane), busyFraction: busy)
        }
        let width = max(self.width.isFinite ? self.width : 1400, 200)
        let laneHeight = max(self.laneHeight.isFinite ? self.laneHeight : 24, 6)
        let longestLabel = labels.map(\.count).max() ?? 0
        let plotLeft = min(max(Double(longestLabel) * 6.8 + 16, 80), width * 0.4)
        let plotWidth = width - 20 - plotLeft
        let top: Double = title == nil ? 12 : 40
        let lanesBottom = top + laneHeight * Double(max(lanes.count, 1))
        let height = lanesBottom + 50
        let layout = Layout(
            plotLeft: plotLeft, plotWidth: plotWidth, rangeStart: range.lowerBound,
            rangeLength: range.upperBound - range.lowerBound, origin: origin)

        var svg = SVG.Builder(width: width, height: height, attributes: ["font-family": "sans-serif", "font-size": 12])
        svg.element("rect", ["class": "background", "x": 0, "y": 0, "width": width, "height": height, "fill": "#ffffff"])
        if let title {
            svg.element(
                "text",
                ["class": "title", "x": width / 2, "y": 24, "text-anchor": "middle", "font-size": 16, "font-weight": "bold"],
                text: title)
        }
        if lanes.isEmpty {
            svg.element(
                "text",
                ["class": "empty", "x": plotLeft + plotWidth / 2, "y": top + laneHeight / 2, "text-anchor": "middle",
                 "dominant-baseline": "middle", "fill": "#888888"],
                text: "no spans")
        }
        // Lane backgrounds (idle time stays this colour) and labels.
        for (index, lane) in lanes.enumerated() {
            let y = top + Double(index) * laneHeight
            let fill = Palette.laneBackgrounds[index % Palette.laneBackgrounds.count]
            svg.element(
                "rect", ["class": "lane", "x": plotLeft, "y": y, "width": plotWidth, "height": laneHeight, "fill": fill],
                title: trace.name(of: lane))
            svg.element(
                "text",
                ["class": "lane-label", "x": plotLeft - 8, "y": y + laneHeight / 2, "text-anchor": "end",
                 "dominant-baseline": "middle"],
                text: labels[index])
        }
        // Vertical grid lines at the time ticks.
        let startMs = (range.lowerBound - origin) / 1000
        let endMs = (range.upperBound - origin) / 1000
        let targetTicks = max(2, Int(plotWidth / 110))
        let step = Ticks.niceStep(span: endMs - startMs, targetCount: targetTicks)
        let ticks = Ticks.linear(from: startMs, to: endMs, targetCount: targetTicks)
        svg.open("g", ["class": "grid", "stroke": Palette.grid, "stroke-width": 1])
        for tick in ticks {
            let x = layout.x(origin + tick * 1000)
            svg.element("line", ["x1": x, "y1": top, "x2": x, "y2": lanesBottom])
        }
        svg.close()
        // Spans.
        svg.open("g", ["class": "spans"])
        for (index, lane) in lanes.enumerated() {
            let laneTop = top + Double(index) * laneHeight
            for rect in Self.rects(for: byLane[lane] ?? [], range: range, layout: layout) {
                let inset = 2 + Double(rect.depth) * laneHeight / 8
                let rectHeight = max(laneHeight - 2 * inset, 2)
                let x = min(rect.x0, plotLeft + plotWidth - Self.minimumRectWidth)
                let rectWidth = max(rect.x1 - x, Self.minimumRectWidth)
                let y = laneTop + (laneHeight - rectHeight) / 2
                if rect.depth == 0 {
                    svg.element(
                        "rect",
                        ["class": "span", "x": x, "y": y, "width": rectWidth, "height": rectHeight, "fill": rect.color],
                        title: rect.title)
                } else {  // outlined, so a nested span stands out on a parent of the same batch colour
                    svg.element(
                        "rect",
                        ["class": "span", "x": x, "y": y, "width": rectWidth, "height": rectHeight, "fill": rect.color,
                         "stroke": "#000000", "stroke-opacity": 0.4, "stroke-width": 0.75],
                        title: rect.title)
                }
            }
        }
        svg.close()
        // Time axis.
        svg.element(
            "line",
            ["class": "axis-line", "x1": plotLeft, "y1": lanesBottom, "x2": plotLeft + plotWidth, "y2": lanesBottom,
             "stroke": Palette.axis])
        for tick in ticks {
            let x = layout.x(origin + tick * 1000)
            svg.element("line", ["x1": x, "y1": lanesBottom, "x2": x, "y2": lanesBottom + 5, "stroke": Palette.axis])
            svg.element(
                "text", ["class": "tick-label", "x": x, "y": lanesBottom + 18, "text-anchor": "middle"],
                text: Ticks.label(tick, step: step))
        }
        svg.element(
            "text", ["class": "axis-title", "x": plotLeft + plotWidth / 2, "y": lanesBottom + 38, "text-anchor": "middle"],
            text: "time since trace start (ms)")
        svg.element(
            "text",
            ["class": "note", "x": width - 20, "y": lanesBottom + 38, "text-anchor": "end", "fill": "#888888",
             "font-size": 10],
            text: "colour = batch (cycles every \(Palette.qualitative.count)), grey = no batch")
        return svg.finished()
    }

    /// Maps trace time (µs) to x pixels, and formats relative times.
    struct Layout {
        var plotLeft: Double
        var plotWidth: Double
        var rangeStart: Double
        var rangeLength: Double
        var origin: Double

        func x(_ time: Double) -> Double {
            plotLeft + (time - rangeStart) / rangeLength * plotWidth
        }

        /// `start–end ms`, relative to the trace origin.
        func interval(_ start: Double, _ end: Double) -> String {
            let from = SVG.number((start - origin) / 1000, maxDecimals: 3)
            let to = SVG.number((end - origin) / 1000, maxDecimals: 3)
            return "\(from)–\(to) ms"
        }
    }

    /// A rectangle to draw: one span, or several coalesced narrow ones.
    struct Rect {
        var x0: Double
        var x1: Double
        var depth: Int
        var color: String
        var title: String
    }

    /// Narrow spans being coalesced at one nesting depth.
    private struct Pending {
        var x0: Double
        var x1: Double
        var color: String
        var batch: Int?
        var mixedBatches = false
        var count = 1
        var name: String
        var start: Double
        var end: Double

        init(_ span: ChromeTrace.Span, x0: Double, x1: Double, color: String) {
            (self.x0, self.x1, self.color) = (x0, x1, color)
            (batch, name, start, end) = (span.batch, span.name, span.start, span.end)
        }

        func rect(depth: Int, layout: Layout) -> Rect {
            let batchText = mixedBatches ? "mixed batches" : batch.map { "batch \($0)" }
            let head = count == 1 ? name : "\(count) spans"
            let title = ([head] + (batchText.map { [$0] } ?? []) + [layout.interval(start, end)]).joined(separator: " · ")
            return Rect(x0: x0, x1: x1, depth: depth, color: color, title: title)
        }
    }

    /// The rectangles of one lane's spans within `range`, outer spans before the spans nested in them.
    static func rects(for spans: [ChromeTrace.Span], range: ClosedRange<Double>, layout: Layout) -> [Rect] {
        let ordered = spans.filter { $0.start.isFinite && $0.end.isFinite && $0.duration >= 0 }
            .sorted { ($0.start, -$0.end) < ($1.start, -$1.end) }
        var layers = [[Rect]](repeating: [], count: maxDepth + 1)
        var pending = [Pending?](repeating: nil, count: maxDepth + 1)
        var openEnds: [Double] = []

        func flush(_ depth: Int) {
            if let merged = pending[depth] { layers[depth].append(merged.rect(depth: depth, layout: layout)) }
            pending[depth] = nil
        }

        for span in ordered {
            while let end = openEnds.last, end <= span.start { openEnds.removeLast() }
            let depth = min(openEnds.count, maxDepth)
            if span.duration > 0 { openEnds.append(span.end) }
            guard span.end >= range.lowerBound, span.start <= range.upperBound else { continue }
            let x0 = layout.x(max(span.start, range.lowerBound))
            let x1 = layout.x(min(span.end, range.upperBound))
            let color = Palette.color(forBatch: span.batch)
            if x1 - x0 >= minimumRectWidth {
                flush(depth)
                layers[depth].append(Pending(span, x0: x0, x1: x1, color: color).rect(depth: depth, layout: layout))
            } else if var merged = pending[depth],
                (merged.color == color && x0 <= merged.x1 + minimumRectWidth) || x1 <= merged.x0 + minimumRectWidth
            {
                merged.x1 = max(merged.x1, x1)
                merged.count += 1
                merged.end = max(merged.end, span.end)
                if merged.batch != span.batch { merged.mixedBatches = true }
                pending[depth] = merged
            } else {
                flush(depth)
                pending[depth] = Pending(span, x0: x0, x1: x1, color: color)
            }
        }
        for depth in 0...maxDepth { flush(depth) }
        return layers.flatMap { $0 }
    }
}

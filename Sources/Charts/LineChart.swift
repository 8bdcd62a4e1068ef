import Foundation

/// An SVG XY line chart for benchmark sweeps (throughput against batch size, latency against load, ...).
///
/// Each series is drawn as a polyline through its points (sorted by x) with a marker per point, in the
/// ``Palette`` colour of its position; a legend names every series. Axes get "nice" ticks (steps of 1, 2 or 5
/// × 10^k); either axis can be logarithmic. Points with a NaN or infinite coordinate, and non-positive values on
/// a logarithmic axis, are skipped; empty input draws empty axes with a "no data" note.
public struct LineChart: Sendable {
    /// One data point.
    public struct Point: Sendable, Equatable {
        public var x: Double
        public var y: Double

        public init(x: Double, y: Double) {
            self.x = x
            self.y = y
        }
    }

    /// A named sequence of points.
    public struct Series: Sendable, Equatable {
        public var label: String
        public var points: [Point]

        public init(label: String, points: [Point]) {
            self.label = label
            self.points = points
        }

        /// A series from `(x, y)` tuples, e.g. `Series(label: "1 rank", points: [(x: 1, y: 20), (x: 2, y: 38)])`.
        public init<Points: Sequence>(label: String, points: Points) where Points.Element == (x: Double, y: Double) {
            self.init(label: label, points: points.map { Point(x: $0.x, y: $0.y) })
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Plot y on a logarithmic scale (points with y ≤ 0 are skipped).
    public var logScaleY: Bool
    /// Plot x on a logarithmic scale (points with x ≤ 0 are skipped).
    public var logScaleX: Bool
    /// On a linear y axis, extend the range to include zero.
    public var yIncludesZero: Bool
    /// Image size in pixels.
    public var width: Double
    public var height: Double

    public init(
        title: String, xLabel: String, yLabel: String, series: [Series], logScaleY: Bool = false,
        logScaleX: Bool = false, yIncludesZero: Bool = true, width: Double = 800, height: Double = 480
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logScaleY = logScaleY
        self.logScaleX = logScaleX
        self.yIncludesZero = yIncludesZero
        self.width = width
        self.height = height
    }

    /// The points of `series` that can be drawn, sorted by x (ties keep their order).
    func drawablePoints(of series: Series) -> [Point] {
        series.points.enumerated()
            .filter { _, point in
                point.x.isFinite && point.y.isFinite && (!logScaleX || point.x > 0) && (!logScaleY || point.y > 0)
            }
            .sorted { ($0.element.x, $0.offset) < ($1.element.x, $1.offset) }
            .map(\.element)
    }

    /// The chart as a standalone SVG document.
    public func svg() -> String {
        let drawable = series.map(drawablePoints(of:))
        let all = drawable.flatMap { $0 }
        let width = max(self.width.isFinite ? self.width : 800, 240)
        let height = max(self.height.isFinite ? self.height : 480, 160)
        let longestLabel = series.map { $0.label.count + ($0.points.isEmpty ? 10 : 0) }.max() ?? 0
        let legendWidth = series.isEmpty ? 10 : min(max(Double(longestLabel) * 6.8 + 44, 80), width * 0.35)
        let plot = (
            left: 72.0, top: title.isEmpty ? 20.0 : 44.0,
            right: width - legendWidth - 10, bottom: height - 56
        )
        let xAxis = Axis(
            values: all.map(\.x), log: logScaleX, includeZero: false,
            targetCount: max(2, Int((plot.right - plot.left) / 90)))
        let yAxis = Axis(
            values: all.map(\.y), log: logScaleY, includeZero: yIncludesZero,
            targetCount: max(2, Int((plot.bottom - plot.top) / 60)))
        func px(_ x: Double) -> Double { plot.left + xAxis.fraction(x) * (plot.right - plot.left) }
        func py(_ y: Double) -> Double { plot.bottom - yAxis.fraction(y) * (plot.bottom - plot.top) }

        var svg = SVG.Builder(width: width, height: height, attributes: ["font-family": "sans-serif", "font-size": 12])
        svg.element("rect", ["class": "background", "x": 0, "y": 0, "width": width, "height": height, "fill": "#ffffff"])
        if !title.isEmpty {
            svg.element(
                "text",
                ["class": "title", "x": width / 2, "y": 26, "text-anchor": "middle", "font-size": 16, "font-weight": "bold"],
                text: title)
        }
        // Grid, ticks and tick labels.
        svg.open("g", ["class": "grid", "stroke": Palette.grid, "stroke-width": 1])
        for tick in xAxis.ticks {
            svg.element("line", ["x1": px(tick), "y1": plot.top, "x2": px(tick), "y2": plot.bottom])
        }
        for tick in yAxis.ticks {
            svg.element("line", ["x1": plot.left, "y1": py(tick), "x2": plot.right, "y2": py(tick)])
        }
        svg.close()
        for tick in xAxis.ticks {
            svg.element(
                "text", ["class": "x-tick", "x": px(tick), "y": plot.bottom + 18, "text-anchor": "middle"],
                text: xAxis.label(tick))
        }
        for tick in yAxis.ticks {
            svg.element(
                "text",
                ["class": "y-tick", "x": plot.left - 8, "y": py(tick), "text-anchor": "end", "dominant-baseline": "middle"],
                text: yAxis.label(tick))
        }
        let axisPath =
            "M\(SVG.number(plot.left)),\(SVG.number(plot.top)) V\(SVG.number(plot.bottom)) H\(SVG.number(plot.right))"
        svg.element("path", ["class": "axis-line", "d": axisPath, "fill": "none", "stroke": Palette.axis])
        svg.element(
            "text", ["class": "x-label", "x": (plot.left + plot.right) / 2, "y": height - 14, "text-anchor": "middle"],
            text: xLabel)
        let yLabelY = (plot.top + plot.bottom) / 2
        svg.element(
            "text",
            ["class": "y-label", "x": 18, "y": yLabelY, "text-anchor": "middle",
             "transform": "rotate(-90 18 \(SVG.number(yLabelY)))"],
            text: yLabel)
        if all.isEmpty {
            svg.element(
                "text",
                ["class": "empty", "x": (plot.left + plot.right) / 2, "y": yLabelY, "text-anchor": "middle",
                 "fill": "#888888"],
                text: "no data")
        }
        // Series: a polyline and markers each.
        for (index, points) in drawable.enumerated() where !points.isEmpty {
            let color = Palette.color(forIndex: index)
            let label = series[index].label
            svg.open("g", ["class": "series"])
            let coordinates = points.map { "\(SVG.number(px($0.x))),\(SVG.number(py($0.y)))" }.joined(separator: " ")
            svg.element(
                "polyline",
                ["class": "series-line", "points": coordinates, "fill": "none", "stroke": color, "stroke-width": 2,
                 "stroke-linejoin": "round"],
                title: label)
            for point in points {
                svg.element(
                    "circle",
                    ["class": "marker", "cx": px(point.x), "cy": py(point.y), "r": 3.5, "fill": color, "stroke": "#ffffff"],
                    title: "\(label): \(Self.valueText(point.x)), \(Self.valueText(point.y))")
            }
            svg.close()
        }
        // Legend, one entry per series (also empty ones, marked as such).
        svg.open("g", ["class": "legend"])
        for (index, entry) in series.enumerated() {
            let color = Palette.color(forIndex: index)
            let x = plot.right + 18
            let y = plot.top + 8 + Double(index) * 20
            svg.open("g", ["class": "legend-entry"])
            svg.element("line", ["x1": x, "y1": y, "x2": x + 20, "y2": y, "stroke": color, "stroke-width": 2])
            svg.element("circle", ["cx": x + 10, "cy": y, "r": 3.5, "fill": color])
            let text = drawable[index].isEmpty ? "\(entry.label) (no data)" : entry.label
            svg.element("text", ["class": "legend-label", "x": x + 26, "y": y, "dominant-baseline": "middle"], text: text)
            svg.close()
        }
        svg.close()
        return svg.finished()
    }

    /// A data value for tooltips: up to 3 decimals, exponent notation for extreme magnitudes.
    static func valueText(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude != 0 && (magnitude >= 1e9 || magnitude < 1e-3) { return String(format: "%.4g", value) }
        return SVG.number(value, maxDecimals: 3)
    }

    /// One axis: its domain, ticks, and the mapping of values to a 0...1 fraction of its length.
    struct Axis {
        var lower: Double
        var upper: Double
        var log: Bool
        var ticks: [Double]
        var step: Double

        init(values: [Double], log: Bool, includeZero: Bool, targetCount: Int) {
            self.log = log
            if log {
                let positive = values.filter { $0 > 0 && $0.isFinite }
                let lowDecade = positive.min().map { log10($0).rounded(.down) } ?? 0
                var highDecade = positive.max().map { log10($0).rounded(.up) } ?? 1
                if highDecade <= lowDecade { highDecade = lowDecade + 1 }
                lower = pow(10, lowDecade)
                upper = pow(10, highDecade)
                ticks = Ticks.logarithmic(from: lower, to: upper)
                step = 0
            } else {
                var low = values.min() ?? 0
                var high = values.max() ?? 1
                if includeZero {
                    low = min(low, 0)
                    high = max(high, 0)
                }
                let domain = Ticks.niceDomain(from: low, to: high, targetCount: targetCount)
                (lower, upper, step, ticks) = (domain.lower, domain.upper, domain.step, domain.ticks)
            }
        }

        /// Where `value` lies between `lower` (0) and `upper` (1).
        func fraction(_ value: Double) -> Double {
            let result =
                log
                ? (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
                : (value - lower) / (upper - lower)
            return result.isFinite ? result : 0
        }

        func label(_ value: Double) -> String {
            log ? Ticks.logLabel(value) : Ticks.label(value, step: step)
        }
    }
}

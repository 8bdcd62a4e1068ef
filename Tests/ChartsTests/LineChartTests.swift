import Foundation
import Testing

import Charts

@Suite struct LineChartTests {
    private typealias Series = LineChart.Series

    private static let sweep = LineChart(
        title: "Decode throughput", xLabel: "batch size", yLabel: "tokens/s",
        series: [
            Series(label: "1 rank", points: [(x: 1, y: 20), (x: 2, y: 38), (x: 4, y: 70), (x: 8, y: 121)]),
            Series(label: "2 ranks & <pipelined>", points: [(x: 8, y: 190), (x: 1, y: 18), (x: 4, y: 95)]),
            Series(label: "4 ranks", points: []),
        ])

    private func numbers(_ elements: [ParsedElement], _ cssClass: String) -> [Double] {
        elements.withClass(cssClass).compactMap { Double($0.text) }
    }

    @Test func rendersOneLinePerNonEmptySeriesAndALegendEntryPerSeries() throws {
        let elements = try #require(parseXML(Self.sweep.svg()))
        #expect(elements.first?.name == "svg")
        let lines = elements.withClass("series-line")
        #expect(lines.count == 2)
        #expect(lines.map(\.title) == ["1 rank", "2 ranks & <pipelined>"])
        #expect(lines[0].attributes["stroke"] == Palette.color(forIndex: 0))
        #expect(lines[1].attributes["stroke"] == Palette.color(forIndex: 1))
        #expect(elements.withClass("marker").count == 7)
        #expect(elements.withClass("legend-entry").count == 3)
        #expect(elements.withClass("legend-label").map(\.text) == ["1 rank", "2 ranks & <pipelined>", "4 ranks (no data)"])
        #expect(elements.withClass("title").first?.text == "Decode throughput")
        #expect(elements.withClass("x-label").first?.text == "batch size")
        #expect(elements.withClass("y-label").first?.text == "tokens/s")
    }

    @Test func pointsAreDrawnInXOrder() throws {
        let elements = try #require(parseXML(Self.sweep.svg()))
        let points = try #require(elements.withClass("series-line").last?.attributes["points"])
        let xs = points.split(separator: " ").compactMap { Double($0.split(separator: ",")[0]) }
        #expect(xs.count == 3)
        #expect(xs == xs.sorted())
    }

    @Test func ticksAreOneTwoFiveMultiplesCoveringTheData() throws {
        let elements = try #require(parseXML(Self.sweep.svg()))
        for cssClass in ["x-tick", "y-tick"] {
            let ticks = numbers(elements, cssClass)
            #expect(ticks.count >= 3, "\(cssClass)")
            let steps = zip(ticks.dropFirst(), ticks).map { $0 - $1 }
            #expect(steps.allSatisfy { abs($0 - steps[0]) < 1e-9 * max(1, abs(steps[0])) }, "\(cssClass): \(ticks)")
            #expect(isOneTwoFiveStep(steps[0]), "\(cssClass): \(ticks)")
            #expect(ticks.allSatisfy { abs($0 / steps[0] - ($0 / steps[0]).rounded()) < 1e-9 }, "\(cssClass): \(ticks)")
        }
        let yTicks = numbers(elements, "y-tick")
        #expect(yTicks.first == 0)  // the linear y axis includes zero
        #expect(yTicks.last ?? 0 >= 190)
        let xTicks = numbers(elements, "x-tick")
        #expect(xTicks.first ?? 99 <= 1 && xTicks.last ?? 0 >= 8)
    }

    @Test func skipsNonFinitePointsAndSurvivesEmptyInput() throws {
        let noisy = LineChart(
            title: "", xLabel: "x", yLabel: "y",
            series: [Series(label: "noisy", points: [(x: 1, y: .nan), (x: 2, y: 5), (x: .infinity, y: 1), (x: 3, y: -.infinity), (x: 4, y: 7)])])
        let elements = try #require(parseXML(noisy.svg()))
        #expect(elements.withClass("marker").count == 2)
        #expect(elements.withClass("series-line").count == 1)
        let text = noisy.svg()
        #expect(!text.replacingOccurrences(of: "dominant-baseline", with: "").lowercased().contains("nan"))
        #expect(!text.lowercased().contains("inf"))
        let coordinates = elements.withClass("marker").flatMap { [$0.attributes["cx"], $0.attributes["cy"]] }
        #expect(coordinates.allSatisfy { Double($0 ?? "")?.isFinite == true })

        let onlyNaN = LineChart(title: "t", xLabel: "x", yLabel: "y", series: [Series(label: "bad", points: [(x: .nan, y: .nan)])])
        let nanElements = try #require(parseXML(onlyNaN.svg()))
        #expect(nanElements.withClass("series-line").isEmpty)
        #expect(nanElements.withClass("empty").first?.text == "no data")
        #expect(nanElements.withClass("legend-label").map(\.text) == ["bad (no data)"])

        let nothing = try #require(parseXML(LineChart(title: "", xLabel: "", yLabel: "", series: []).svg()))
        #expect(nothing.withClass("series-line").isEmpty)
        #expect(nothing.withClass("legend-entry").isEmpty)
        #expect(!nothing.withClass("y-tick").isEmpty)
    }

    @Test func singlePointGetsASensibleDomain() throws {
        let chart = LineChart(
            title: "one", xLabel: "x", yLabel: "y", series: [Series(label: "p", points: [(x: 5, y: 3)])], yIncludesZero: false)
        let elements = try #require(parseXML(chart.svg()))
        let marker = try #require(elements.withClass("marker").first)
        let xTicks = numbers(elements, "x-tick")
        let yTicks = numbers(elements, "y-tick")
        #expect(xTicks.count >= 2 && xTicks.first! < 5 && xTicks.last! > 5)
        #expect(yTicks.count >= 2 && yTicks.first! < 3 && yTicks.last! > 3)
        #expect(Double(marker.attributes["cx"] ?? "").map { $0.isFinite } == true)
    }

    @Test func logScaleUsesDecadesAndSkipsNonPositiveValues() throws {
        let chart = LineChart(
            title: "latency", xLabel: "load", yLabel: "ms",
            series: [Series(label: "p99", points: [(x: 1, y: 0.5), (x: 2, y: 0), (x: 3, y: 40), (x: 4, y: -2), (x: 5, y: 3000)])],
            logScaleY: true)
        let elements = try #require(parseXML(chart.svg()))
        #expect(elements.withClass("marker").count == 3)
        let ticks = numbers(elements, "y-tick")
        #expect(ticks.first == 0.1)
        #expect(ticks.last == 10_000)
        #expect(ticks.allSatisfy { isOneTwoFiveStep($0) })
        let ys = elements.withClass("marker").compactMap { Double($0.attributes["cy"] ?? "") }
        // Equal ratios are equal distances: 0.5 → 40 → 3000 are 1.9 and 1.875 decades apart.
        #expect(abs((ys[0] - ys[1]) / (ys[1] - ys[2]) - log10(80) / log10(75)) < 0.01)
    }
}

@Suite struct SVGAndTicksTests {
    @Test func numberFormattingUsesAtMostTwoDecimals() {
        #expect(SVG.number(12.5) == "12.5")
        #expect(SVG.number(3) == "3")
        #expect(SVG.number(0.07) == "0.07")
        #expect(SVG.number(1.23456) == "1.23")
        #expect(SVG.number(-0.001) == "0")
        #expect(SVG.number(2.999) == "3")
        #expect(SVG.number(.nan) == "0")
        #expect(SVG.number(123_456_789.126) == "123456789.13")
        #expect(SVG.number(1.23456, maxDecimals: 3) == "1.235")
    }

    @Test func escapingCoversMarkupAndControlCharacters() {
        #expect(SVG.escape(#"a<b>&"c"'d"#) == "a&lt;b&gt;&amp;&quot;c&quot;&apos;d")
        #expect(SVG.escape("tab\tok\u{0}\u{1b}") == "tab\tok")
        #expect(SVG.escape("plain — ünïcode") == "plain — ünïcode")
    }

    @Test func builderClosesElementsAndEscapesAttributes() throws {
        var svg = SVG.Builder(width: 10, height: 10)
        svg.open("g", ["class": "a\"b"])
        svg.element("rect", ["x": 1.005, "width": 3], title: "<t>")
        let elements = try #require(parseXML(svg.finished()))
        #expect(elements.map(\.name) == ["svg", "g", "rect", "title"])
        #expect(elements[1].attributes["class"] == "a\"b")
        #expect(elements[2].attributes["x"] == "1" || elements[2].attributes["x"] == "1.01")
        #expect(elements[2].title == "<t>")
    }

    @Test func niceTicks() {
        #expect(Ticks.niceStep(span: 10, targetCount: 5) == 2)
        #expect(Ticks.niceStep(span: 1, targetCount: 10) == 0.1)
        #expect(Ticks.niceStep(span: 730, targetCount: 6) == 100)
        #expect(Ticks.niceStep(span: 0.03, targetCount: 6) == 0.005)
        #expect(Ticks.linear(from: 0, to: 10, targetCount: 5) == [0, 2, 4, 6, 8, 10])
        #expect(Ticks.linear(from: 3, to: 3) == [3])
        #expect(Ticks.linear(from: .nan, to: 1).isEmpty)
        let domain = Ticks.niceDomain(from: 3, to: 97, targetCount: 5)
        #expect(domain.lower == 0 && domain.upper == 100 && domain.step == 20)
        #expect(Ticks.logarithmic(from: 1, to: 100) == [1, 2, 5, 10, 20, 50, 100])
        #expect(Ticks.logarithmic(from: 1, to: 1e6) == [1, 10, 100, 1000, 10_000, 100_000, 1_000_000])
        #expect(Ticks.logarithmic(from: 0, to: 10).isEmpty)
        #expect(Ticks.label(0.30000000000000004, step: 0.1) == "0.3")
        #expect(Ticks.label(1500, step: 500) == "1500")
    }
}

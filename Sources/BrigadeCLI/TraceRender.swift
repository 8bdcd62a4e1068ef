import ArgumentParser
import Charts
import Foundation

/// `brigade trace`: timelines written with `--trace`.
struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with pipeline timelines written by --trace.",
        subcommands: [TraceRender.self]
    )
}

/// `brigade trace render`: a Gantt chart of a trace, one lane per rank (and relay), one colour per micro-batch.
struct TraceRender: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Draw a --trace timeline as an SVG Gantt chart: a lane per rank and relay, a colour per micro-batch, bubbles as gaps.",
        discussion: "Several files (the per-rank files of an MPI job) are merged onto one time axis. The trace is checked first: every span closed, no two overlapping on a lane."
    )

    @Argument(help: ArgumentHelp("Trace files (Chrome-trace JSON).", valueName: "trace.json")) var files: [String]
    @Option(name: .shortAndLong, help: "The SVG to write.") var output = "timeline.svg"
    @Option(help: "Only draw from this many milliseconds after the trace starts.") var from: Double?
    @Option(help: "Only draw until this many milliseconds after the trace starts.") var to: Double?
    @Option(help: "Chart width in pixels.") var width = 1400
    @Option(help: "Chart title.") var title: String?
    @Flag(help: "Also draw the waits (category \"wait\"); by default they are left blank, so bubbles show as gaps and busy % counts work only.")
    var showWaits = false

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one trace file") }
        guard (200...100_000).contains(width) else { throw ValidationError("--width must be between 200 and 100000") }
        if let from, let to, from >= to { throw ValidationError("--from must be before --to") }
    }

    func run() throws {
        var merged = ChromeTrace(spans: [], laneNames: [:], processNames: [:], displayTimeUnit: "ms")
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
            let trace: ChromeTrace
            do {
                trace = try ChromeTrace(data: data)
            } catch {
                throw CLIError("\(file) is not a Chrome trace: \(error)")
            }
            merged.spans += trace.spans
            merged.laneNames.merge(trace.laneNames) { first, _ in first }
            merged.processNames.merge(trace.processNames) { first, _ in first }
        }
        do {
            try merged.validate()
        } catch {
            throw CLIError("the trace is inconsistent: \(error)")
        }
        if !showWaits { merged.spans.removeAll { $0.category == "wait" } }
        var window: ClosedRange<Double>?
        if let range = merged.timeRange, from != nil || to != nil {
            let start = range.lowerBound + (from ?? 0) * 1000, end = to.map { range.lowerBound + $0 * 1000 } ?? range.upperBound
            window = start...max(start, end)
        }
        let chart = GanttChart(trace: merged, title: title ?? (files.first! as NSString).lastPathComponent, width: Double(width),
                               window: window)
        do {
            try Data(chart.svg().utf8).write(to: URL(fileURLWithPath: output))
        } catch {
            throw CLIError("cannot write \(output): \(error.localizedDescription)")
        }
        let busy = merged.lanes.map { "\(merged.name(of: $0)) \(Int((merged.busyFraction(of: $0) * 100).rounded()))%" }
        print("\(output): \(merged.spans.count) spans on \(merged.lanes.count) lanes; busy: \(busy.joined(separator: ", "))")
    }
}

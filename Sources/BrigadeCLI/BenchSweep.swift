import ArgumentParser
import Charts
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ServingBenchmark

/// `brigade bench sweep`: the serving benchmark over load levels × pipeline sizes, as a saturation curve.
struct BenchSweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run the serving benchmark over request rates (or concurrencies) × pp sizes; write a chart, a table and JSON.",
        discussion: """
            For each --pp size, starts `brigade serve` on a free port (threads in one process, or with --transport mpi \
            one process per stage through --mpirun), waits for /health, runs `bench serve` at each load level, and \
            stops it. Writes sweep.svg (output throughput against latency, one line per pp size), sweep.md and \
            sweep.json into --output-dir.
            """
    )

    @Option(help: "Comma-separated pipeline sizes.") var pp = "1,2"
    @Option(help: "Comma-separated concurrency levels (each runs with --request-rate inf).") var maxConcurrency: String?
    @Option(help: "Comma-separated request rates (req/s, or inf), instead of --max-concurrency.") var requestRates: String?
    @Option(help: "How the server's stages connect: inprocess or mpi.") var transport = TransportChoice.inprocess
    @Option(help: "The MPI launcher, with its options (--transport mpi).") var mpirun = "mpirun --oversubscribe"
    @Option(help: "More `brigade serve` options, space-separated; write them with = (e.g. --serve-args=\"--max-num-seqs 16\").") var serveArgs = ""
    @Option(help: "The latency drawn against throughput: ttft, tpot, itl or e2el (median).") var latency = "tpot"
    @Option(help: "Where to write sweep.svg, sweep.md and sweep.json.") var outputDir = "."
    @OptionGroup(title: "Workload") var workload: WorkloadOptions
    @OptionGroup(title: "Model (served and tokenizer)") var model: ModelOptions

    struct Point {
        let pp: Int
        let load: String
        let report: BenchmarkReport
    }

    func validate() throws {
        guard (maxConcurrency == nil) != (requestRates == nil) else {
            throw ValidationError("give exactly one of --max-concurrency and --request-rates")
        }
        guard BenchmarkMetrics.Metric(rawValue: latency) != nil else { throw ValidationError("--latency must be ttft, tpot, itl or e2el") }
        guard transport != .auto else { throw ValidationError("--transport must be inprocess or mpi") }
        _ = try sizes
    }

    var sizes: [Int] {
        get throws {
            try pp.split(separator: ",").map {
                guard let value = Int($0.trimmingCharacters(in: .whitespaces)), (1...64).contains(value) else {
                    throw ValidationError("--pp \"\(pp)\": give comma-separated stage counts in 1...64")
                }
                return value
            }
        }
    }

    /// Each load level: its label and (request rate, max concurrency).
    var levels: [(label: String, rate: String, concurrency: Int?)] {
        get throws {
            if let maxConcurrency {
                return try maxConcurrency.split(separator: ",").map {
                    guard let value = Int($0.trimmingCharacters(in: .whitespaces)), value >= 1 else {
                        throw ValidationError("--max-concurrency \"\(maxConcurrency)\": give comma-separated positive integers")
                    }
                    return ("concurrency \(value)", "inf", value)
                }
            }
            return (requestRates ?? "").split(separator: ",").map {
                let rate = $0.trimmingCharacters(in: .whitespaces)
                return ("\(rate) req/s", rate, nil)
            }
        }
    }

    func run() async throws {
        let metric = BenchmarkMetrics.Metric(rawValue: latency)!
        let tokenizer = try model.promptTokenizer()
        let prompts = try workload.prompts(tokenizer: tokenizer)
        var points: [Point] = []
        for stages in try sizes {
            let server = try SweepServer(stages: stages, transport: transport, mpirun: mpirun, model: model.model,
                                         extra: serveArgs.split(separator: " ").map(String.init))
            defer { server.stop() }
            try await server.waitUntilHealthy()
            for level in try levels {
                let options = try workload.benchmarkOptions(url: server.base, requestRate: level.rate, maxConcurrency: level.concurrency)
                FileHandle.standardError.write(Data("pp \(stages), \(level.label): \(prompts.count) requests\n".utf8))
                let run = try await workload.run(prompts, options: options, progress: true)
                let report = BenchmarkReport(run: run, options: options, selected: BenchmarkMetrics.Metric.allCases,
                                             percentiles: [50, 99]) { tokenizer.encode($0).count }
                points.append(Point(pp: stages, load: level.label, report: report))
                let m = report.metrics
                print(String(format: "pp %d  %@  %.1f tok/s  median TTFT %.1f ms  median TPOT %.1f ms  failed %d", stages,
                             level.label, m.outputThroughput, m.summary(of: .ttft, percentiles: []).median,
                             m.summary(of: .tpot, percentiles: []).median, m.failed))
            }
        }
        try write(points, metric: metric)
    }

    func write(_ points: [Point], metric: BenchmarkMetrics.Metric) throws {
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let series = try sizes.map { stages in
            LineChart.Series(label: "pp \(stages)", points: points.filter { $0.pp == stages }.map {
                (x: $0.report.metrics.outputThroughput, y: $0.report.metrics.summary(of: metric, percentiles: []).median)
            })
        }
        let chart = LineChart(title: "Saturation: \(workload.randomInputLen) in / \(workload.randomOutputLen) out tokens, \(model.isSynthetic ? "synthetic" : (model.resolvedPath as NSString).lastPathComponent)",
                              xLabel: "output throughput (tokens/s)", yLabel: "median \(metric.rawValue.uppercased()) (ms)",
                              series: series)
        var table = "| pp | load | completed | failed | output tok/s | req/s | median TTFT ms | p99 TTFT ms | median TPOT ms | p99 TPOT ms | median ITL ms | median E2EL ms |\n"
        table += "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for point in points {
            let m = point.report.metrics
            let ttft = m.summary(of: .ttft, percentiles: [99]), tpot = m.summary(of: .tpot, percentiles: [99])
            table += String(format: "| %d | %@ | %d | %d | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", point.pp,
                            point.load, m.completed, m.failed, m.outputThroughput, m.requestThroughput, ttft.median,
                            ttft.percentiles[0].1, tpot.median, tpot.percentiles[0].1,
                            m.summary(of: .itl, percentiles: []).median, m.summary(of: .e2el, percentiles: []).median)
        }
        let json = points.map { point -> [String: Any] in
            var object = point.report.json
            for key in ["ttfts", "itls", "generated_texts", "errors", "input_lens", "output_lens"] { object.removeValue(forKey: key) }
            object["pp"] = point.pp
            object["load"] = point.load
            return object
        }
        let directory = URL(fileURLWithPath: outputDir)
        try Data(chart.svg().utf8).write(to: directory.appendingPathComponent("sweep.svg"))
        try Data(table.utf8).write(to: directory.appendingPathComponent("sweep.md"))
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted])
            .write(to: directory.appendingPathComponent("sweep.json"))
        print("\n" + table)
        print("wrote sweep.svg, sweep.md and sweep.json to \(outputDir)")
    }
}

/// A `brigade serve` started by the sweep on a free port, its log in a temporary file.
final class SweepServer {
    let process = Process()
    let port: Int
    let log = NSTemporaryDirectory() + "brigade-sweep-\(UUID().uuidString).log"
    let stages: Int
    let transport: TransportChoice

    init(stages: Int, transport: TransportChoice, mpirun: String, model: String?, extra: [String]) throws {
        self.stages = stages
        self.transport = transport
        port = freeLocalPort()
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        var serve = ["serve", "--port", "\(port)", "--pp", "\(stages)", "--transport", transport.rawValue] + extra
        if let model { serve += ["--model", model] }
        if transport == .mpi {
            let launcher = mpirun.split(separator: " ").map(String.init)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = launcher + ["-n", "\(stages)", me] + serve
        } else {
            process.executableURL = URL(fileURLWithPath: me)
            process.arguments = serve
        }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        // The child inherits this thread's signal mask; Swift's threads block SIGTERM, and an mpirun that cannot
        // receive it cannot be stopped.
        unblock([SIGTERM, SIGINT])
        try process.run()
    }

    var base: String { "http://127.0.0.1:\(port)" }

    func waitUntilHealthy() async throws {
        for _ in 0..<1200 {
            guard process.isRunning else { break }
            if let (data, _) = try? await URLSession.shared.data(from: URL(string: base + "/health")!),
               String(decoding: data, as: UTF8.self) == "ok\n" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw CLIError("the pp \(stages) server did not come up:\n\(text.suffix(2000))")
    }

    /// Sends SIGTERM and waits (polling: Foundation's `waitUntilExit` spins a core) up to a minute, then kills.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        for _ in 0..<1200 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: log)
    }
}

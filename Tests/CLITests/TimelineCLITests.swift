import Charts
import Foundation
import Testing
#if canImport(FoundationXML)
import FoundationXML
#endif

/// `--trace`, `brigade trace render`, `brigade plan` and `--pp-partition auto`, run as a user runs them.
@Suite struct TimelineCLITests {
    static func temporary(_ name: String) -> String { NSTemporaryDirectory() + "brigade-\(UUID().uuidString)-\(name)" }

    @Test(arguments: [false, true])
    func aTracedRunRendersAsAGanttChart(sync: Bool) throws {
        let trace = Self.temporary("trace.json"), svg = Self.temporary("timeline.svg")
        defer { [trace, svg].forEach { try? FileManager.default.removeItem(atPath: $0) } }
        let run = try CLITests.run(["bench", "pipeline", "--model", "synthetic:layers=8,stage-ms=2", "--pp", "4", "--requests", "16",
                                    "--output-tokens", "6", "--max-num-seqs", "2", "--modes", sync ? "sync" : "async", "--trace", trace])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("spans written to \(trace)"))
        let parsed = try ChromeTrace(data: Data(contentsOf: URL(fileURLWithPath: trace)))
        try parsed.validate()  // every span closed, none overlapping another on its lane (nesting allowed)
        #expect(parsed.lanes.count == 8, "a loop lane and a relay lane per rank")
        let forwards = parsed.spans.filter { $0.name == "forward" }
        #expect(Set(forwards.map(\.tid)) == [0, 2, 4, 6])
        #expect(Set(forwards.compactMap(\.batch)).count == forwards.count / 4, "each micro-batch runs once on every rank")

        let render = try CLITests.run(["trace", "render", trace, "-o", svg, "--title", "pp 4"])
        #expect(render.status == 0, "\(render.stderr)")
        #expect(render.stdout.contains("rank 3 (layers 6–7)"))
        let document = try Data(contentsOf: URL(fileURLWithPath: svg))
        let parser = XMLParser(data: document)
        #expect(parser.parse(), "the SVG is well-formed XML")
        #expect(String(decoding: document, as: UTF8.self).contains("rank 0 (layers 0–1)"))
    }

    @Test func renderRejectsWhatIsNotATrace() throws {
        let file = Self.temporary("bad.json")
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"traceEvents": [{"ph": "B", "name": "x", "ts": 1, "pid": 1, "tid": 1}]}"#.utf8).write(to: URL(fileURLWithPath: file))
        let run = try CLITests.run(["trace", "render", file, "-o", Self.temporary("x.svg")])
        #expect(run.status != 0 && run.stderr.contains("is not a Chrome trace"), "\(run.stderr)")
        let missing = try CLITests.run(["trace", "render", "/nonexistent.json"])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read /nonexistent.json"))
    }

    static let uneven = "synthetic:layers=10,layer-ms=2,2,2,2,2,2,2,2,2,12"

    @Test func planAndAutoPartitionBalanceAnUnevenModel() throws {
        let plan = try CLITests.run(["plan", "--model", Self.uneven, "--pp", "3", "--batch-size", "2", "--json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        // 4,5,1 and 5,4,1 are both optimal (the 12 ms layer alone is the slowest stage); timing noise picks one.
        let auto = (object["auto"] as? [String: Any])?["partition"] as? [Int]
        #expect(auto == [4, 5, 1] || auto == [5, 4, 1], "\(String(describing: auto))")
        #expect((object["default"] as? [String: Any])?["partition"] as? [Int] == [4, 4, 2])
        #expect((object["layer_ms"] as? [Double])?.count == 10)

        let run = try CLITests.run(["bench", "pipeline", "--model", Self.uneven, "--pp", "3", "--requests", "24", "--output-tokens", "4",
                                    "--max-num-seqs", "4", "--modes", "async", "--partitions", "default;auto", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let bench = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let runs = try #require(bench["runs"] as? [[String: Any]])
        #expect(runs.map { ($0["split"] as? String)?.hasSuffix(",1)") } == [false, true], "\(runs)")
        #expect(runs.first?["split"] as? String == "default (4,4,2)")
        // The last stage of the default split sleeps 14 ms per micro-batch, auto's slowest 12 ms (counters, not timings:
        // the auto split's busiest stage does less work per micro-batch).
        let busy = runs.map { ($0["stage_busy"] as? [Double]) ?? [] }
        #expect(busy.count == 2 && busy[1].reduce(0, +) / 3 > busy[0].reduce(0, +) / 3, "auto keeps the stages busier on average: \(busy)")

        // Measured once, so async and sync run the same split.
        let bothModes = try CLITests.run(["bench", "pipeline", "--model", Self.uneven, "--pp", "3", "--requests", "8", "--output-tokens", "2",
                                          "--pp-partition", "auto"])
        #expect(bothModes.status == 0, "\(bothModes.stderr)")
        #expect(bothModes.stderr.components(separatedBy: "--pp-partition auto: split").count == 2, "\(bothModes.stderr)")

        let generate = try CLITests.run(["generate", "--model", Self.uneven, "--prompt", "abc", "--max-tokens", "3", "--pp", "3",
                                         "--pp-partition", "auto", "--stats"])
        #expect(generate.status == 0, "\(generate.stderr)")
        #expect(generate.stderr.contains("--pp-partition auto: split 4,5,1") || generate.stderr.contains("--pp-partition auto: split 5,4,1"),
                "\(generate.stderr)")
    }

    @Test func sweepWritesAChartATableAndJSON() throws {
        let directory = Self.temporary("sweep")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try CLITests.run(["bench", "sweep", "--model", "synthetic:layers=4,layer-ms=0.5", "--pp", "1,2", "--max-concurrency", "1,4",
                                    "--num-prompts", "8", "--random-input-len", "12", "--random-output-len", "5", "--ignore-eos",
                                    "--output-dir", directory, "--serve-args=--max-num-seqs 4"])
        #expect(run.status == 0, "\(run.stderr)")
        let table = try String(contentsOfFile: directory + "/sweep.md", encoding: .utf8)
        #expect(table.split(separator: "\n").count == 6, "a header, a rule and a row per (pp, load): \(table)")
        #expect(table.contains("| 2 | concurrency 4 | 8 | 0 |"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/sweep.json"))) as? [[String: Any]])
        #expect(json.map { $0["pp"] as? Int } == [1, 1, 2, 2])
        #expect(json.allSatisfy { $0["completed"] as? Int == 8 && $0["total_output_tokens"] as? Int == 40 && $0["median_tpot_ms"] is Double })
        let svg = try Data(contentsOf: URL(fileURLWithPath: directory + "/sweep.svg"))
        #expect(XMLParser(data: svg).parse())
        #expect(String(decoding: svg, as: UTF8.self).contains("pp 2"))
    }
}

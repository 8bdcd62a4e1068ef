import Foundation
import Testing

/// `generate --pp`, `--pp-sync`, `--stats` and `bench pipeline`, run as a user runs them.
@Suite struct PipelineCLITests {
    static let requests = """
        {"prompt": "The capital of France is", "max_tokens": 10}
        {"messages": [{"role": "user", "content": "Write a haiku about rain."}], "max_tokens": 14}
        {"prompt": "1, 2, 3, 4,", "max_tokens": 8, "logprobs": 2}
        {"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0.8, "seed": 5}
        {"prompt": "def fibonacci(n):", "max_tokens": 9, "stop": ["\\n\\n"]}
        """

    static func generate(_ extra: [String], environment: [String: String] = [:]) throws -> String {
        let file = try CLITests.temporaryFile(Self.requests)
        let run = try CLITests.run(["generate", "--requests", file, "--json", "--temperature", "0"] + extra, environment: environment)
        #expect(run.status == 0, "\(extra): \(run.stderr)")
        return run.stdout
    }

    @Test func everyStageCountAndModeGivesTheSameTokens() throws {
        let reference = try Self.generate(["--pp", "1"])
        #expect(reference.split(separator: "\n").count == 5)
        #expect(try Self.generate(["--pp", "3"]) == reference)
        #expect(try Self.generate(["--pp", "3", "--pp-sync"]) == reference)
        #expect(try Self.generate(["--pp", "2"], environment: ["BRIGADE_PP_ASYNC": "0"]) == reference)
        #expect(try Self.generate(["--pp", "4", "--pp-partition", "12,6,6,6", "--max-num-seqs", "2"]) == reference)
    }

    @Test func statsPrintsAPerStageTable() throws {
        let run = try CLITests.run(["generate", "--model", "synthetic:layers=6,stage-ms=1", "--prompt", "hello", "--max-tokens", "5",
                                    "--pp", "3", "--stats"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("t"))
        let table = run.stderr.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(table.count == 3, "\(run.stderr)")
        #expect(run.stderr.contains("stage  layers") && run.stderr.contains("0-1") && run.stderr.contains("4-5"))
    }

    @Test func benchPipelineReportsUtilizationForBothModes() throws {
        let run = try CLITests.run(["bench", "pipeline", "--model", "synthetic:layers=8,stage-ms=2,2,2,2,jitter=0.2", "--pp", "4",
                                    "--requests", "16", "--output-tokens", "6", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let runs = object?["runs"] as? [[String: Any]] ?? []
        #expect(runs.map { $0["mode"] as? String } == ["async", "sync"])
        for entry in runs {
            #expect((entry["generated_tokens"] as? Int) == 16 * 6)
            #expect((entry["stage_busy"] as? [Double])?.count == 4)
            let utilization = entry["bottleneck_utilization"] as? Double ?? 0
            #expect(utilization > 0 && utilization <= 1.0001)
        }
        #expect((runs.first?["max_in_flight"] as? Int ?? 0) >= 4)
        #expect((runs.last?["max_in_flight"] as? Int ?? 99) <= 4)
        #expect(object?["async_over_sync"] is Double)
    }

    @Test func badPipelineSettingsAreExplained() throws {
        let cases: [([String], [String: String], String)] = [
            (["--pp", "0"], [:], "--pp must be between 1 and 64"),
            (["--pp", "3", "--pp-partition", "10,10"], [:], "lists 2 stages but --pp is 3"),
            (["--pp", "2", "--pp-partition", "10,x"], [:], "positive layer count per stage"),
            (["--pp", "2", "--pp-partition", "10,10"], [:], "covers 20 layers but the model has 30"),
            (["--pp", "31"], [:], "needs at least one layer per stage but the model has 30 layers"),
            (["--pp", "2"], ["BRIGADE_PP_ASYNC": "maybe"], "BRIGADE_PP_ASYNC must be 1 (async) or 0 (sync)"),
            (["--model", "synthetic:layers=4,bogus=1"], [:], "unknown key"),
            (["--kv-cache-fraction", "2"], [:], "--kv-cache-fraction must be in (0, 0.9]"),
            (["--kv-cache-fraction", "0.1", "--kv-cache-mb", "64"], [:], "not both"),
            (["--model", "synthetic:layers=4,stage-ms=1,2,3", "--pp", "2"], [:], "stage-ms"),
        ]
        for (arguments, environment, message) in cases {
            let run = try CLITests.run(["generate", "--prompt", "hi", "--max-tokens", "2"] + arguments, environment: environment)
            #expect(run.status != 0, "\(arguments) should fail")
            #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
    }

    @Test func aKVCacheTooSmallForOneSequenceIsAStartupErrorWithTheFix() throws {
        // 8 layers × 2 × 64 floats = 4 KiB per token: 1 MiB holds 256 tokens, the context is 4096.
        let model = ["--model", "synthetic:layers=8", "--kv-cache-mb", "1", "--prompt", "abc", "--max-tokens", "3"]
        let small = try CLITests.run(["generate"] + model)
        #expect(small.status != 0)
        #expect(small.stderr.contains("the KV cache holds 256 tokens (1 MiB)") && small.stderr.contains("raise --kv-cache-mb to 17")
                && small.stderr.contains("--max-model-len 256"), "\(small.stderr)")
        let capped = try CLITests.run(["generate", "--max-model-len", "256", "--json"] + model)
        #expect(capped.status == 0, "\(capped.stderr)")
        let long = try CLITests.run(["generate", "--max-model-len", "8", "--json", "--model", "synthetic:layers=8", "--prompt", "abcde",
                                     "--ignore-eos", "--max-tokens", "100"])
        #expect(long.status == 0 && long.stdout.contains(#""completion_tokens":3"#), "the cap ends generation: \(long.stdout)\(long.stderr)")
    }
}

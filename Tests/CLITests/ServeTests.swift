import Foundation
import ServingBenchmark
import Testing

/// `brigade serve` as users run it: driven by the official `openai` Python client (scripts/checks/openai_client.py)
/// with one stage, two, and two MPI processes; stopped by signals; refused a port that is taken.
@Suite(.serialized) struct ServeTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/checks/openai_client.py").standardized.path

    @Test(arguments: [1, 2])
    func theOpenAIClientGetsWhatItExpects(stages: Int) throws {
        let server = try ServerProcess(["--pp", "\(stages)", "--transport", "inprocess"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let run = try CLITests.run([Self.script, server.base], executable: "python3")
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("all checks passed"))
        if stages == 2 {
            // Prompts built with SmolLM2's tokenizer have exactly the length the server counts.
            try Self.benchmarkSendsExactLengths(to: server, model: [], inputLength: 48, outputLength: 3, count: 6)
        }
        #expect(server.stop() == 0, "SIGTERM should shut the server down cleanly:\n\(server.log)")
        #expect(server.log.contains(", streamed"), "one log line per streamed request")
    }

    /// Anthropic's Messages API and OpenAI's Responses API driven by their official clients
    /// (scripts/checks/messages_responses.py): streaming and not, endings, errors, disconnects, the same greedy text
    /// as Chat Completions.
    @Test func theAnthropicAndResponsesClientsGetWhatTheyExpect() throws {
        let server = try ServerProcess(["--pp", "2", "--transport", "inprocess"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let run = try CLITests.run([Self.script.replacingOccurrences(of: "openai_client.py", with: "messages_responses.py"), server.base],
                                   executable: "python3")
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)\n\(server.log.suffix(3000))")
        #expect(run.stdout.contains("all checks passed"))
        #expect(server.log.contains("msg_") && server.log.contains("resp_"), "one log line per call of either API")
        let metrics = try CLITests.run(["-s", server.base + "/metrics"], executable: "curl").stdout
        for endpoint in ["messages", "messages_count_tokens", "responses", "chat_completions"] {
            #expect(metrics.contains(#"brigade_endpoint_requests_total{endpoint="\#(endpoint)"}"#), "\(endpoint) counted")
        }
        #expect(server.stop() == 0)
    }

    /// Structured output and tools as applications use them (scripts/checks/structured_output.py: the official
    /// `openai` client's `parse`, schemas, guided extras, tools streamed and not, LangChain), on SmolLM2 (whose template
    /// knows no tools: Brigade describes them in the system message) over two stages, and on Qwen2.5-Coder (whose
    /// template renders them).
    @Test(arguments: ["SmolLM2", RealModelCLITests.models[0]])
    func structuredOutputAndToolsWorkFromTheOfficialClientAndLangChain(model: String) throws {
        let arguments = model == "SmolLM2" ? ["--pp", "2", "--transport", "inprocess"]
            : ["--model", try RealModelCLITests.path(model), "--max-model-len", "4096"]
        let server = try ServerProcess(arguments)
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let run = try CLITests.run([Self.script.replacingOccurrences(of: "openai_client.py", with: "structured_output.py"), server.base],
                                   executable: "python3")
        #expect(run.status == 0, "\(model): \(run.stdout)\n\(run.stderr)\n\(server.log.suffix(3000))")
        #expect(run.stdout.contains("all checks passed"))
        if model == "SmolLM2" {
            // Every schema of the suite: each answer that finishes validates with jsonschema.
            let suite = try CLITests.run([Self.script.replacingOccurrences(of: "openai_client.py", with: "schema_suite.py"), server.base,
                                          "--max-tokens", "200"], executable: "python3")
            #expect(suite.status == 0, "\(suite.stdout)\n\(suite.stderr)")
            #expect(suite.stdout.contains("failures: none"))
        }
        #expect(server.stop() == 0)
    }

    /// The chat page and the pipeline view in headless Chromium (scripts/checks/web_ui.py): a streamed reply, Stop
    /// ending the request on every rank, the conversation kept across a reload, no HTML injection, busy stages and a
    /// drawn timeline during a benchmark, screenshots; with an API key, the page asks for it.
    @Test func theWebPagesWorkInARealBrowser() throws {
        let shots = NSTemporaryDirectory() + "brigade-web-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let script = Self.script.replacingOccurrences(of: "openai_client.py", with: "web_ui.py")
        let server = try ServerProcess(["--pp", "2", "--transport", "inprocess"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let run = try CLITests.run([script, server.base, CLITests.binary, shots], executable: "python3")
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)\n\(server.log.suffix(3000))")
        #expect(run.stdout.contains("all checks passed"))
        for page in ["web-chat.png", "web-pipeline.png"] {
            #expect(FileManager.default.fileExists(atPath: shots + "/" + page), "the test saves \(page) (in \(shots))")
        }
        #expect(server.stop() == 0)

        let locked = try ServerProcess(["--model", "synthetic:layers=2,stage-ms=2", "--api-key", "open-sesame"])
        defer { locked.kill() }
        try #require(locked.waitUntilHealthy(), "the server did not come up:\n\(locked.log)")
        let keyed = try CLITests.run([script, locked.base, CLITests.binary, shots, "open-sesame"], executable: "python3")
        #expect(keyed.status == 0, "\(keyed.stdout)\n\(keyed.stderr)\n\(locked.log.suffix(3000))")
        func status(_ path: String, _ headers: [String] = []) throws -> String {
            try CLITests.run(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2", locked.base + path] + headers.flatMap { ["-H", $0] },
                             executable: "curl").stdout
        }
        #expect(try status("/") == "200" && status("/pipeline") == "200", "the pages load without the key")
        #expect(try status("/v1/pipeline/stream") == "401", "the live stream needs the key")
        #expect(locked.stop() == 0)

        let plain = try ServerProcess(["--model", "synthetic:layers=2", "--no-web-ui"])
        defer { plain.kill() }
        try #require(plain.waitUntilHealthy(), "the server did not come up:\n\(plain.log)")
        let off = try CLITests.run(["-s", "-o", "/dev/null", "-w", "%{http_code}", plain.base + "/"], executable: "curl").stdout
        #expect(off == "404", "--no-web-ui serves no page")
        #expect(plain.stop() == 0)
    }

    @Test func anAPIKeyIsAcceptedAsXAPIKeyAndRefusedInEachAPIsShape() throws {
        let server = try ServerProcess(["--model", "synthetic:layers=2", "--api-key", "open-sesame"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let body = #"{"max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}"#
        func post(_ path: String, _ headers: [String]) throws -> String {
            try CLITests.run(["-s", "-w", "\n%{http_code}", server.base + path, "-H", "content-type: application/json", "-d", body]
                             + headers.flatMap { ["-H", $0] }, executable: "curl").stdout
        }
        let anthropic = try post("/v1/messages", ["x-api-key: open-sesame"])
        #expect(anthropic.hasSuffix("200") && anthropic.contains(#""type":"message""#), "\(anthropic)")
        let refused = try post("/v1/messages", ["x-api-key: wrong"])
        #expect(refused.hasSuffix("401") && refused.contains(#""type":"authentication_error""#), "\(refused)")
        let bearer = try post("/v1/messages/count_tokens", ["Authorization: Bearer open-sesame"])
        #expect(bearer.hasSuffix("200") && bearer.contains("input_tokens"), "\(bearer)")
        let openAI = try post("/v1/responses", [])
        #expect(openAI.hasSuffix("401") && openAI.contains(#""code":"invalid_api_key""#), "\(openAI)")
        #expect(server.stop() == 0)
    }

    @Test func benchServeReportsVLLMMetricsWithExactPromptLengths() throws {
        let model = ["--model", "synthetic:layers=4,stage-ms=1"]
        let server = try ServerProcess(model)
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        try Self.benchmarkSendsExactLengths(to: server, model: model, inputLength: 40, outputLength: 6, count: 24,
                                            extra: ["--random-range-ratio", "0.5", "--request-rate", "200", "--max-concurrency", "8",
                                                    "--goodput", "ttft:5000", "tpot:1000"])
        let chat = try CLITests.run(["bench", "serve", "--url", server.base, "--endpoint", "chat", "--num-prompts", "5",
                                     "--random-input-len", "10", "--random-output-len", "4", "--ignore-eos"] + model)
        #expect(chat.status == 0 && chat.stdout.contains("Total generated tokens:                  20"), "\(chat.stdout)\n\(chat.stderr)")
        #expect(server.stop() == 0)
    }

    @Test func benchServeRunsPrefixRepetitionAndMultiTurnWorkloadsThatHitThePrefixCache() throws {
        let model = ["--model", "synthetic:layers=4,stage-ms=1"]
        let server = try ServerProcess(model)
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let hitsBefore = Self.counter("brigade_prefix_cache_hits_total", at: server.base)
        let repetition = try CLITests.run(["bench", "serve", "--url", server.base, "--dataset-name", "prefix_repetition",
                                           "--num-prompts", "12", "--prefix-repetition-prefix-len", "64",
                                           "--prefix-repetition-suffix-len", "8", "--prefix-repetition-num-prefixes", "2",
                                           "--prefix-repetition-output-len", "4", "--ignore-eos", "--max-concurrency", "2"] + model)
        #expect(repetition.status == 0 && repetition.stdout.contains("Successful requests:                     12"),
                "\(repetition.stdout)\n\(repetition.stderr)")
        #expect(repetition.stdout.contains("Total input tokens:                      864"), "12 × (64 + 8)")
        let hitsAfter = Self.counter("brigade_prefix_cache_hits_total", at: server.base)
        #expect(hitsAfter - hitsBefore >= 10 * 64, "all but the first request of each prefix reuse it (\(hitsAfter - hitsBefore))")

        let file = NSTemporaryDirectory() + "brigade-multiturn-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let chat = try CLITests.run(["bench", "serve", "--url", server.base, "--dataset-name", "multi_turn", "--endpoint", "chat",
                                     "--num-prompts", "3", "--multi-turn-turns", "4", "--random-input-len", "40",
                                     "--multi-turn-user-len", "10", "--random-output-len", "5", "--ignore-eos",
                                     "--save-result", "--result-filename", file] + model)
        #expect(chat.status == 0 && chat.stdout.contains("Successful requests:                     12"), "\(chat.stdout)\n\(chat.stderr)")
        #expect(chat.stdout.contains("Mean TTFT turn 4 (ms):"))
        let result = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        #expect(result["turns"] as? [Int] == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4])
        #expect((result["mean_ttft_ms_by_turn"] as? [Double])?.count == 4)
        let inputs = result["input_lens"] as? [Int] ?? []
        #expect(inputs.count == 12 && inputs[1] > inputs[0] && inputs[3] > inputs[2], "each turn carries the history: \(inputs)")
        #expect(Self.counter("brigade_prefix_cache_hits_total", at: server.base) - hitsAfter > 0, "later turns reuse earlier ones")
        #expect(server.stop() == 0)
    }

    /// Runs `brigade bench serve` against `server`; checks its table and saved JSON, and that the server counted
    /// exactly the prompt tokens the benchmark says it sent (plus its first test request's).
    static func benchmarkSendsExactLengths(to server: ServerProcess, model: [String], inputLength: Int, outputLength: Int,
                                           count: Int, extra: [String] = []) throws {
        let before = Self.counter("brigade_prompt_tokens_total", at: server.base)
        let file = NSTemporaryDirectory() + "brigade-bench-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let run = try CLITests.run(["bench", "serve", "--url", server.base, "--num-prompts", "\(count)",
                                    "--random-input-len", "\(inputLength)", "--random-output-len", "\(outputLength)", "--ignore-eos",
                                    "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
                                    "--save-result", "--result-filename", file] + model + extra)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Successful requests:                     \(count)"), "\(run.stdout)")
        #expect(run.stdout.contains("P99 E2EL (ms):"))
        let result = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        let inputs = result["input_lens"] as? [Int] ?? []
        #expect(result["completed"] as? Int == count && result["failed"] as? Int == 0)
        let outputs = result["output_lens"] as? [Int] ?? []
        #expect(result["total_output_tokens"] as? Int == outputs.reduce(0, +) && outputs.count == count)
        if !extra.contains("--random-range-ratio") { #expect(outputs.allSatisfy { $0 == outputLength }) }
        #expect(result["total_input_tokens"] as? Int == inputs.reduce(0, +))
        for key in ["mean_ttft_ms", "p99_tpot_ms", "median_itl_ms", "p50_e2el_ms", "request_throughput", "output_throughput"] {
            #expect(result[key] is Double, "\(key) missing")
        }
        let check = try CLITests.run([ServeTests.script.replacingOccurrences(of: "openai_client.py", with: "vllm_metrics.py"), file],
                                     executable: "python3")
        #expect(check.status == 0 && check.stdout.contains("match vLLM's formulas"), "\(check.stdout)\(check.stderr)")
        let after = Self.counter("brigade_prompt_tokens_total", at: server.base)
        #expect(after - before == Double(inputs.reduce(0, +) + (inputs.first ?? 0)), "server-side prompt tokens")
    }

    static func counter(_ name: String, at base: String) -> Double {
        let text = (try? CLITests.run(["-s", base + "/metrics"], executable: "curl"))?.stdout ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    #if MPI
    @Test func rankZeroOfAnMPIJobServes() throws {
        let server = try ServerProcess(["--pp", "2", "--transport", "mpi"], mpiRanks: 2)
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let run = try CLITests.run([Self.script, server.base], executable: "python3")
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let rankZero = try #require(CLITests.processes(withEnvironment: "OMPI_COMM_WORLD_RANK=0", command: "serve"))
        #expect(server.stop(signalling: rankZero) == 0, "SIGTERM to rank 0 should end the whole job cleanly:\n\(server.log)")
        #expect(server.log.contains("2 stages over MPI"))
        #expect(server.log.contains("start `brigade serve --transport mpi --hosts …` directly"), "recovery needs the supervised mode")
    }
    #endif

    @Test func shutdownLetsRequestsFinishWithinTheGracePeriodThenCancelsThem() throws {
        // 20 ms per micro-batch: about 50 tokens a second.
        let server = try ServerProcess(["--model", "synthetic:layers=4,stage-ms=20", "--shutdown-grace-seconds", "1.5"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let short = try Curl(server.base + "/v1/completions", #"{"prompt": "a", "max_tokens": 40, "ignore_eos": true}"#)
        let long = try Curl(server.base + "/v1/completions", #"{"prompt": "b", "max_tokens": 3000, "ignore_eos": true, "stream": true}"#)
        Thread.sleep(forTimeInterval: 0.3)
        kill(server.process.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 0.3)
        let refused = try CLITests.run(["-s", "-o", "/dev/null", "-w", "%{http_code}", server.base + "/health"], executable: "curl")
        #expect(refused.stdout != "200", "a stopping server takes no new requests")
        #expect(server.waitForExit() == 0, "\(server.log)")
        #expect(short.output().contains(#""finish_reason":"length""#), "a request that fits in the grace period finishes")
        let streamed = long.output()
        #expect(streamed.contains(#""finish_reason":"abort""#) && streamed.hasSuffix("data: [DONE]\n\n"),
                "a request still running when the grace period ends is cancelled and its stream closed")
        #expect(server.log.contains("grace period is over: cancelling 1 requests"), "\(server.log)")
    }

    /// A schema-based fuzz run (schemathesis, from PyPI) against /openapi.json finds no 5xx and no undocumented
    /// status. (A synthetic model: requests without max_tokens generate up to the context.)
    @Test func fuzzedRequestsGetNoServerError() throws {
        let server = try ServerProcess(["--model", "synthetic:layers=4,vocab=300,context=512", "--pp", "2"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let run = try CLITests.run(["run", server.base + "/openapi.json", "--checks", "not_a_server_error,status_code_conformance",
                                    "--max-examples", "40", "--seed", "1"], executable: "schemathesis")
        #expect(run.status == 0, "\(run.stdout.suffix(4000))\n\(run.stderr.suffix(2000))")
        #expect(server.stop() == 0, "\(server.log.suffix(3000))")
    }

    /// The model file truncated (and then deleted) while serving changes nothing: the weights were copied out of it.
    @Test func anEmptiedModelFileChangesNothing() throws {
        let copy = NSTemporaryDirectory() + "brigade-serve-\(UUID().uuidString).gguf"
        let environment = ProcessInfo.processInfo.environment
        let model = environment["BRIGADE_MODEL"] ?? (environment["HOME"] ?? "") + "/.cache/brigade/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        try FileManager.default.copyItem(atPath: model, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let server = try ServerProcess(["--model", copy, "--pp", "2"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let request = ["-s", server.base + "/v1/completions", "-d", #"{"prompt": "The capital of France is", "max_tokens": 4, "temperature": 0}"#]
        let before = try CLITests.run(request, executable: "curl").stdout
        #expect(truncate(copy, 0) == 0)
        let truncated = try CLITests.run(request, executable: "curl").stdout
        try FileManager.default.removeItem(atPath: copy)
        let deleted = try CLITests.run(request, executable: "curl").stdout
        #expect(before.contains("Paris"), "\(before)")
        for after in [truncated, deleted] {
            #expect(after.contains("Paris") && after.contains(#""finish_reason":"length""#), "\(after)\n\(server.log.suffix(3000))")
        }
        #expect(server.stop() == 0)
    }

    @Test func shutdownDuringABurstAnswersEveryRequest() throws {
        let server = try ServerProcess(["--model", "synthetic:layers=4,stage-ms=5", "--pp", "2", "--shutdown-grace-seconds", "0.5"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let clients = try (0..<40).map { index in
            try Curl(server.base + "/v1/completions",
                     #"{"prompt": "burst \#(index)", "max_tokens": \#(index % 2 == 0 ? 8 : 400), "ignore_eos": true\#(index % 3 == 0 ? #", "stream": true"# : "")}"#)
        }
        Thread.sleep(forTimeInterval: 0.3)
        kill(server.process.processIdentifier, SIGTERM)
        #expect(server.waitForExit() == 0, "\(server.log.suffix(3000))")
        for (index, client) in clients.enumerated() {
            let output = client.output()
            let finished = output.contains(#""finish_reason":"length""#) || output.contains(#""finish_reason":"abort""#)
            let refused = output.contains("shutting down")  // reached the server after the signal
            let neverConnected = output.isEmpty && client.process.terminationStatus == 7  // curl: the port was closed
            #expect(finished || refused || neverConnected,
                    "request \(index) (curl exit \(client.process.terminationStatus)): \(output.suffix(300))")
            if index % 3 == 0 && finished { #expect(output.hasSuffix("data: [DONE]\n\n"), "stream \(index) was not closed") }
            #expect(!output.contains("Internal Server Error"))
        }
        #expect(clients.filter { !$0.output().isEmpty }.count >= 20, "most requests reached the server before the signal")
    }

    @Test func oversizedHeadersAndSlowClientsAreCutOff() throws {
        let server = try ServerProcess(["--model", "synthetic:layers=2,stage-ms=40", "--idle-timeout-seconds", "1", "--max-header-bytes", "8192"])
        defer { server.kill() }
        try #require(server.waitUntilHealthy(), "the server did not come up:\n\(server.log)")
        let big = try CLITests.run(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Big: " + String(repeating: "a", count: 10_000),
                                    server.base + "/health"], executable: "curl")
        #expect(big.stdout == "400", "a 10 kB header field over --max-header-bytes 8192")
        // A client that sends half a request head and stalls (slowloris), and one that keeps an idle connection:
        // both are closed after the idle timeout, and a streamed request longer than it is not.
        let probe = """
            import socket, sys, time
            port = int(sys.argv[1])
            def closed_after(data):
                s = socket.create_connection(("127.0.0.1", port)); s.sendall(data); s.settimeout(5); start = time.time()
                try:
                    while s.recv(65536): pass
                except OSError: return "error"
                return round(time.time() - start, 1)
            print(closed_after(b"GET /health HTTP/1.1\\r\\nHost: x\\r\\nX-Slow: "))
            print(closed_after(b"GET /health HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"))
            """
        let run = try CLITests.run(["-c", probe, "\(server.port)"], executable: "python3")
        let seconds = run.stdout.split(separator: "\n").compactMap { Double($0) }
        #expect(seconds.count == 2 && seconds.allSatisfy { $0 >= 0.5 && $0 <= 3 }, "closed after \(run.stdout) \(run.stderr)")
        let long = try CLITests.run(["-s", server.base + "/v1/completions", "-H", "content-type: application/json", "-d",
                                     #"{"prompt": "x", "max_tokens": 40, "ignore_eos": true, "stream": true}"#], executable: "curl")
        #expect(long.stdout.hasSuffix("data: [DONE]\n\n"), "a stream longer than the idle timeout runs to its end")
        #expect(try CLITests.run(["-s", server.base + "/health"], executable: "curl").stdout == "ok\n")
    }

    @Test func aPortInUseIsAClearError() throws {
        let first = try ServerProcess(["--model", "synthetic:layers=2"])
        defer { first.kill() }
        try #require(first.waitUntilHealthy())
        let second = try CLITests.run(["serve", "--model", "synthetic:layers=2", "--port", "\(first.port)"])
        #expect(second.status != 0)
        #expect(second.stderr.contains("cannot listen on 127.0.0.1:\(first.port)") && second.stderr.contains("--port"), "\(second.stderr)")
        #expect(first.stop() == 0)
    }
}

/// A `brigade serve` (or an mpirun job of it) on a free port, its log in a file (a pipe nobody reads would fill up
/// and stall the server).
final class ServerProcess {
    let process = Process()
    let port = freeLocalPort()
    let logFile = NSTemporaryDirectory() + "brigade-serve-\(UUID().uuidString).log"

    init(_ arguments: [String], mpiRanks: Int? = nil, executable: String = CLITests.binary,
         environment: [String: String] = [:]) throws {
        let serve = ["serve", "--port", "\(port)"] + arguments
        if let mpiRanks {
            process.executableURL = URL(fileURLWithPath: try CLITests.which("mpirun"))
            process.arguments = ["-n", "\(mpiRanks)", CLITests.binary] + serve
            #if MPI
            process.environment = ProcessInfo.processInfo.environment.merging(MPITests.environment) { $1 }
            #endif
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = serve
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var base: String { "http://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Polls /health until it answers 200 (the port opens before the model has loaded).
    func waitUntilHealthy(seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && process.isRunning {
            if (try? CLITests.run(["-s", base + "/health"], executable: "curl"))?.stdout == "ok\n" { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    /// Sends SIGTERM (to `pid`, or the server) and returns the exit status.
    func stop(signalling pid: Int32? = nil) -> Int32 {
        Foundation.kill(pid ?? process.processIdentifier, SIGTERM)
        return waitForExit()
    }

    /// The exit status, once the server has stopped; kills it if it takes over a minute.
    func waitForExit() -> Int32 {
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            Issue.record("the server did not stop within a minute")
            kill()
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: logFile)
    }
}

/// A `curl` POST running in the background; `output()` waits for it and returns the response body.
final class Curl {
    let process = Process()
    let out = Pipe()
    private var data = Data()

    /// Posts `body`; with `maxSeconds`, curl hangs up after that long (a client that disconnects mid-request).
    init(_ url: String, _ body: String, maxSeconds: Double? = nil) throws {
        process.executableURL = URL(fileURLWithPath: try CLITests.which("curl"))
        process.arguments = ["-sN", url, "-H", "content-type: application/json", "-d", body] + (maxSeconds.map { ["-m", "\($0)"] } ?? [])
        process.standardOutput = out
        try process.run()
    }

    func output() -> String {
        if process.isRunning || data.isEmpty { data = out.fileHandleForReading.readDataToEndOfFile() }
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

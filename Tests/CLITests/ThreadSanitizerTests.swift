import Foundation
import Testing

/// The ThreadSanitizer build of `brigade`, if the test command built one.
let tsanBinary: String? = {
    guard let path = ProcessInfo.processInfo.environment["BRIGADE_TSAN_BINARY"], !path.isEmpty else { return nil }
    return path
}()

/// The CI-sized part of the sanitizer runs (the full runs are in docs/RELIABILITY.md): a `brigade` built with
/// `--sanitize thread` runs the executor, the relay, the in-process transport and the HTTP server under load, and
/// ThreadSanitizer must report nothing. `scripts/test` builds that binary into `.build/tsan` and names it in
/// `BRIGADE_TSAN_BINARY`; a plain `swift test` without it leaves these tests out.
@Suite(.serialized, .enabled(if: tsanBinary != nil, "BRIGADE_TSAN_BINARY is not set (scripts/test sets it)"))
struct ThreadSanitizerTests {
    /// Every report fails the run; `exitcode` makes a report visible even if its text were lost.
    static let environment = ["TSAN_OPTIONS": "halt_on_error=0 exitcode=66 second_deadlock_stack=1", "SWIFT_BACKTRACE": "enable=no"]

    static func expectNoReports(_ output: String, _ what: String) {
        let reports = output.components(separatedBy: "WARNING: ThreadSanitizer").count - 1
        #expect(reports == 0, "\(what): \(reports) ThreadSanitizer reports:\n\(output.prefix(20_000))")
    }

    @Test func theBinaryRunsUnderThreadSanitizer() throws {
        let run = try CLITests.run(["--help"], environment: ["TSAN_OPTIONS": "verbosity=1"], executable: tsanBinary)
        #expect(run.stderr.contains("Running under ThreadSanitizer"), "\(tsanBinary ?? "") is not a ThreadSanitizer build")
    }

    @Test func pipelineWithJitterInBothModes() throws {
        let requests = (0..<24).map { index in
            #"{"prompt": "\#(String(repeating: "ab ", count: 1 + index * 7))", "max_tokens": \#(2 + index % 9), "logprobs": \#(index % 3)}"#
        }.joined(separator: "\n")
        let file = try CLITests.temporaryFile(requests)
        for mode in [[], ["--pp-sync"]] {
            let run = try CLITests.run(["generate", "--model", "synthetic:layers=8,stage-ms=0.3,jitter=0.5", "--pp", "4",
                                        "--requests", file, "--max-num-seqs", "6", "--max-num-batched-tokens", "32", "--json",
                                        "--trace", NSTemporaryDirectory() + "tsan-trace-\(UUID().uuidString).json"] + mode,
                                       environment: Self.environment, executable: tsanBinary)
            #expect(run.status == 0, "\(mode): exit \(run.status)\n\(run.stderr.prefix(20_000))")
            #expect(run.stdout.split(separator: "\n").count == 24)
            Self.expectNoReports(run.stderr, "generate --pp 4 \(mode)")
        }
    }

    @Test func serverWithConcurrentStreamsCancellationsAndShutdown() throws {
        let server = try ServerProcess(["--model", "synthetic:layers=4,stage-ms=0.2", "--pp", "2", "--max-waiting-requests", "8"],
                                       executable: try #require(tsanBinary), environment: Self.environment)
        defer { server.kill() }
        try #require(server.waitUntilHealthy(seconds: 120), "the TSan server did not come up:\n\(server.log)")
        // Streams with usage, plain completions, requests cut off mid-stream, and more than the queue takes.
        var clients: [Curl] = []
        for index in 0..<24 {
            let body = #"{"prompt": "hello \#(index)", "max_tokens": \#(4 + index % 20), "stream": \#(index % 2 == 0), "#
                + #""stream_options": {"include_usage": true}, "ignore_eos": true, "n": \#(1 + index % 2)}"#
            clients.append(try Curl(server.base + "/v1/completions", body, maxSeconds: index % 5 == 0 ? 0.05 : nil))
        }
        for client in clients { _ = client.output() }
        let metrics = try CLITests.run(["-s", server.base + "/metrics"], executable: "curl")
        #expect(metrics.stdout.contains("brigade_model_loaded 1"))
        #expect(server.stop() == 0, "exit status after SIGTERM:\n\(server.log.suffix(5000))")
        Self.expectNoReports(server.log, "serve --pp 2")
    }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import ServingBenchmark
import Synchronization
import Testing

/// Stream timing from raw server-sent events, and whole runs against a fake server with known timings.
@Suite struct StreamTimerTests {
    static func event(_ json: String) -> [UInt8] { Array("data: \(json)\n\n".utf8) }

    @Test func completionsTimingsIgnoreTheUsageTrailer() throws {
        var timer = StreamTimer(endpoint: .completions, start: 1, promptLength: 5)
        let first = Self.event(#"{"choices": [{"text": "He"}]}"#)
        try timer.receive(first[..<7], at: 1.2)       // an event split across reads
        try timer.receive(first[7...], at: 1.25)
        try timer.receive(Self.event(#"{"choices": [{"text": "llo"}]}"#) + Self.event(#"{"choices": [{"text": ""}]}"#), at: 1.4)
        try timer.receive(Self.event(#"{"choices": [], "usage": {"completion_tokens": 3}}"#) + Array(": ping\n\ndata: [DONE]\n\n".utf8), at: 1.9)
        let outcome = timer.finish()
        #expect(outcome.success && outcome.generatedText == "Hello" && outcome.outputTokens == 3)
        #expect(abs(outcome.ttft - 0.25) < 1e-12)
        #expect(outcome.itl.count == 2 && abs(outcome.itl[0] - 0.15) < 1e-12 && outcome.itl[1] == 0)
        #expect(abs(outcome.latency - 0.4) < 1e-12, "the usage-only event does not count")
    }

    @Test func chatTimingsStampEveryEvent() throws {
        var timer = StreamTimer(endpoint: .chatCompletions, start: 0, promptLength: 1)
        try timer.receive(Self.event(#"{"choices": [{"delta": {"role": "assistant", "content": ""}}]}"#), at: 0.1)
        try timer.receive(Self.event(#"{"choices": [{"delta": {"content": "Hi"}}]}"#), at: 0.3)
        try timer.receive(Self.event(#"{"choices": [], "usage": {"completion_tokens": 1}}"#), at: 0.5)
        let outcome = timer.finish()
        #expect(outcome.generatedText == "Hi" && abs(outcome.ttft - 0.1) < 1e-12 && abs(outcome.latency - 0.5) < 1e-12)
    }

    @Test func aStreamWithoutChoicesFailsAndErrorsAreKept() throws {
        var timer = StreamTimer(endpoint: .completions, start: 0, promptLength: 1)
        try timer.receive(Self.event(#"{"error": {"message": "pipeline failed"}}"#), at: 0.1)
        let outcome = timer.finish()
        #expect(!outcome.success && outcome.error == "pipeline failed")
        var broken = StreamTimer(endpoint: .completions, start: 0, promptLength: 1)
        #expect(throws: BenchmarkError.self) { try broken.receive(Self.event("not json"), at: 0) }
    }

    /// A server that streams `tokens` chunks `gap` apart after `delay`, then usage; or fails with 500 on "fail".
    static func fakeServer(delay: Duration, gap: Duration, tokens: Int) -> Application<RouterResponder<BasicRequestContext>> {
        let router = Router()
        router.get("v1/models") { _, _ in #"{"data": [{"id": "fake"}]}"# }
        router.post("v1/completions") { request, _ -> Response in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            if body.contains("\"fail\"") { return Response(status: .internalServerError) }
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody { writer in
                try await Task.sleep(for: delay)
                for index in 0..<tokens {
                    if index > 0 { try await Task.sleep(for: gap) }
                    try await writer.write(ByteBuffer(bytes: event(#"{"choices": [{"text": "t\#(index) "}]}"#)))
                }
                try await writer.write(ByteBuffer(bytes: event(#"{"choices": [], "usage": {"completion_tokens": \#(tokens)}}"#)))
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
        }
        return Application(router: router)
    }

    @Test func aRunAgainstAFakeServerMeasuresItsTimings() async throws {
        try await Self.fakeServer(delay: .milliseconds(40), gap: .milliseconds(20), tokens: 4).test(.live) { client in
            var options = ServeBenchmarkOptions(baseURL: "http://127.0.0.1:\(client.port!)")
            options.maxConcurrency = 2
            options.requestRate = 50
            let benchmark = ServeBenchmark(options: options, connections: 2)
            let prompts = (0..<6).map { BenchmarkPrompt(text: $0 == 4 ? "fail" : "p\($0)", promptLength: 3, outputLength: 4) }
            let finished = Counter()
            let run = try await benchmark.run(prompts) { finished.set($0) }
            try await benchmark.shutdown()
            #expect(run.modelName == "fake" && finished.value == 6)
            let good = run.outcomes.enumerated().filter { $0.offset != 4 }.map(\.element)
            #expect(good.allSatisfy { $0.success && $0.outputTokens == 4 && $0.itl.count == 3 })
            // Lower bounds only: the server sleeps at least this long (timings on these machines are noisy).
            // (A single gap can be shorter than the server's: a late chunk shortens the gap after it.)
            #expect(good.allSatisfy { $0.ttft >= 0.04 && $0.latency >= 0.1 && $0.itl.allSatisfy { $0 >= 0 } })
            #expect(!run.outcomes[4].success && run.outcomes[4].error.hasPrefix("HTTP 500"))
            let metrics = BenchmarkMetrics(outcomes: run.outcomes, duration: run.duration)
            #expect(metrics.completed == 5 && metrics.failed == 1 && metrics.totalOutput == 20)
            #expect(metrics.maxConcurrentRequests <= 5)
        }
    }

    @Test func anUnreachableServerIsAClearError() async throws {
        let benchmark = ServeBenchmark(options: ServeBenchmarkOptions(baseURL: "http://127.0.0.1:1"), connections: 1)
        await #expect(throws: BenchmarkError.self) {
            try await benchmark.run([BenchmarkPrompt(text: "x", promptLength: 1, outputLength: 1)])
        }
        try await benchmark.shutdown()
    }
}

/// A value shared with a `@Sendable` progress callback.
final class Counter: Sendable {
    private let box = Atomic(0)
    var value: Int { box.load(ordering: .acquiring) }
    func set(_ value: Int) { box.store(value, ordering: .releasing) }
}

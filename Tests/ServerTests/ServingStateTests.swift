import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Kernels
import Logging
import Server
import Testing

/// The server's life around its requests: loading, serving, stopping; per-request log lines; streamed offsets.
@Suite struct ServingStateTests {
    @Test func healthAndRequestsFollowThePhase() async throws {
        let state = ServingState()
        let server = APIServer(state: state)
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable && String(buffer: response.body) == "loading\n")
            }
            try await client.execute(uri: "/v1/models", method: .get) { #expect($0.status == .serviceUnavailable) }
            let (loading, body, _) = try await APIServerTests.post(client, "/v1/completions", #"{"prompt": "x"}"#)
            #expect(loading == .serviceUnavailable)
            #expect(((body["error"] as? [String: Any])?["message"] as? String)?.contains("loading") == true)
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("brigade_model_loaded 0"))
            }

            state.serve(try APIServerTests.server().state.model!)
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            let (serving, _, _) = try await APIServerTests.post(client, "/v1/completions", #"{"prompt": "x", "max_tokens": 1}"#)
            #expect(serving == .ok)
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("brigade_model_loaded 1"))
            }

            state.stop()
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable && String(buffer: response.body) == "shutting down\n")
            }
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: #"{"prompt": "x"}"#)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
            try await client.execute(uri: "/v1/models", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func aPipelineFaultTurnsHealthTo503() async throws {
        let model = SyntheticModel(spec: try SyntheticSpec(parsing: "synthetic:layers=4,vocab=300,fail-at=6"))
        var options = EngineOptions()
        options.pipelineStages = 2
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        let server = APIServer(model: ServedModel(name: "tiny", engine: engine, encode: { model.encode($0) },
                                                  renderChat: { _, _ in "" }, tokenText: { "t\($0)" }))
        try await Application(router: server.router()).test(.router) { client in
            let (status, _, _) = try await APIServerTests.post(client, "/v1/completions", #"{"prompt": "x", "max_tokens": 8, "ignore_eos": true}"#)
            #expect(status == .serviceUnavailable)
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).hasPrefix("pipeline failed:"))
            }
        }
    }

    @Test func streamedCompletionOffsetsCountTheWholeText() async throws {
        let server = try APIServerTests.server()
        try await Application(router: server.router()).test(.router) { client in
            let request = #"{"prompt": "abc", "max_tokens": 6, "ignore_eos": true, "echo": true, "logprobs": 1, "temperature": 0"#
            let (_, whole, _) = try await APIServerTests.post(client, "/v1/completions", request + "}")
            let choice = (whole["choices"] as? [[String: Any]])?.first
            let offsets = (choice?["logprobs"] as? [String: Any])?["text_offset"] as? [Int] ?? []
            let tokens = (choice?["logprobs"] as? [String: Any])?["tokens"] as? [String] ?? []
            // Each token starts where the text before it ends, after the echoed prompt.
            var expected: [Int] = []
            var end = 3
            for token in tokens {
                expected.append(end)
                end += token.unicodeScalars.count
            }
            #expect(tokens.count == 6 && offsets == expected)

            let (_, _, body) = try await APIServerTests.post(client, "/v1/completions", request + #", "stream": true}"#)
            let chunks = body.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: {") }
                .map { APIServerTests.json(ByteBuffer(string: String($0.dropFirst(6)))) }
            let streamed = chunks.flatMap { chunk -> [Int] in
                let logprobs = ((chunk["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])
                return logprobs?["text_offset"] as? [Int] ?? []
            }
            #expect(streamed == offsets)
        }
    }

    @Test func everyRequestGetsOneLogLine() async throws {
        let lines = LogCapture()
        let served = try APIServerTests.server().state.model!
        let server = APIServer(model: served, logger: Logger(label: "test") { _ in lines })
        try await Application(router: server.router()).test(.router) { client in
            _ = try await APIServerTests.post(client, "/v1/completions", #"{"prompt": "x", "max_tokens": 3, "ignore_eos": true}"#)
            _ = try await APIServerTests.post(client, "/v1/chat/completions",
                #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "ignore_eos": true, "stream": true}"#)
            _ = try await APIServerTests.post(client, "/v1/completions", #"{"prompt": "x", "top_p": 7}"#)
        }
        let logged = lines.messages
        #expect(logged.count == 3, "\(logged)")
        #expect(logged.contains { $0.hasPrefix("cmpl-") && $0.contains("3 generated (length)") && $0.contains("TTFT") })
        #expect(logged.contains { $0.hasPrefix("chatcmpl-") && $0.contains("2 generated (length)") && $0.contains("streamed") })
        #expect(logged.contains { $0.contains("/v1/completions: 400") && $0.contains("top_p") })
    }
}

/// A log handler that keeps the messages it is given.
final class LogCapture: LogHandler, Sendable {
    private let store = Locked<[String]>([])
    var messages: [String] { store.withLock { $0 } }

    func log(event: LogEvent) {
        store.withLock { $0.append(event.message.description) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
}

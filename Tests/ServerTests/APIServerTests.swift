import ChatTemplates
import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Server
import Testing
import Transport

/// The HTTP API on a synthetic model (fast, deterministic), through Hummingbird's router test framework.
@Suite struct APIServerTests {
    static func server(stages: Int = 1) throws -> APIServer {
        let model = SyntheticModel(spec: try SyntheticSpec(parsing: "synthetic:layers=4,vocab=300"))
        var options = EngineOptions()
        options.pipelineStages = stages
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        let served = ServedModel(name: "tiny", engine: engine, encode: { model.encode($0) },
                                 renderChat: { messages, _ in messages.map { "\($0.role): \($0.content)" }.joined(separator: "\n") },
                                 tokenText: { "t\($0) " })
        return APIServer(model: served)
    }

    static func json(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: buffer))) as? [String: Any] ?? [:]
    }

    static func post(_ client: some TestClientProtocol, _ path: String, _ body: String) async throws -> (HTTPResponse.Status, [String: Any], String) {
        try await client.execute(uri: path, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) {
            ($0.status, json($0.body), String(buffer: $0.body))
        }
    }

    @Test func chatAndCompletionsAnswerInOpenAIShape() async throws {
        let server = try Self.server(stages: 2)
        try await Application(router: server.router()).test(.router) { client in
            let (status, chat, _) = try await Self.post(client, "/v1/chat/completions",
                #"{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "n": 2, "ignore_eos": true, "logprobs": true, "top_logprobs": 2}"#)
            #expect(status == .ok)
            #expect(chat["object"] as? String == "chat.completion")
            let choices = chat["choices"] as? [[String: Any]] ?? []
            #expect(choices.map { $0["index"] as? Int } == [0, 1])
            #expect(choices.allSatisfy { $0["finish_reason"] as? String == "length" })
            let logprobs = (choices.first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] ?? []
            #expect(logprobs.count == 5 && (logprobs.first?["top_logprobs"] as? [Any])?.count == 2)
            #expect((chat["usage"] as? [String: Any])?["completion_tokens"] as? Int == 10)

            let (_, completion, _) = try await Self.post(client, "/v1/completions",
                #"{"prompt": "abc", "max_tokens": 4, "ignore_eos": true, "echo": true, "temperature": 0}"#)
            let text = (completion["choices"] as? [[String: Any]])?.first?["text"] as? String ?? ""
            #expect(text.hasPrefix("abc") && text.count > 3, "\(completion)")
        }
    }

    @Test func aRepeatedPromptReportsItsCachedTokensInUsageAndMetrics() async throws {
        let server = try Self.server(stages: 2)
        try await Application(router: server.router()).test(.router) { client in
            let prompt = String(repeating: "the same long system prompt, ", count: 4)  // 116 byte tokens: 7 blocks
            let body = #"{"prompt": "\#(prompt)", "max_tokens": 3, "temperature": 0}"#
            let (_, first, _) = try await Self.post(client, "/v1/completions", body)
            let (_, second, _) = try await Self.post(client, "/v1/completions", body)
            func cached(_ response: [String: Any]) -> Int? {
                ((response["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int
            }
            #expect(cached(first) == 0)
            #expect(cached(second) == 112, "\(second)")
            #expect((first["choices"] as? [[String: Any]])?.first?["text"] as? String
                    == (second["choices"] as? [[String: Any]])?.first?["text"] as? String)
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(metrics.contains("brigade_prefix_cache_hits_total 112"), "\(metrics)")
            #expect(metrics.contains("brigade_prefix_cache_queries_total 232"))
            #expect(metrics.contains("brigade_prefix_cache_blocks 7"))
        }
    }

    @Test func streamingSendsChunksUsageAndDone() async throws {
        let server = try Self.server()
        try await Application(router: server.router()).test(.router) { client in
            let (status, _, body) = try await Self.post(client, "/v1/chat/completions",
                #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "ignore_eos": true, "stream": true, "stream_options": {"include_usage": true}}"#)
            #expect(status == .ok)
            let events = body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.last == "data: [DONE]")
            let chunks = events.dropLast().map { Self.json(ByteBuffer(string: String($0.dropFirst(6)))) }
            #expect(chunks.first.flatMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["role"] as? String } == "assistant")
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            #expect((chunks.last?["usage"] as? [String: Any])?["completion_tokens"] as? Int == 3)
            let reasons = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
            #expect(reasons == ["length"])
        }
    }

    @Test func badRequestsGetOpenAIErrorsNamingTheField() async throws {
        let server = try Self.server()
        try await Application(router: server.router()).test(.router) { client in
            let cases: [(String, String, HTTPResponse.Status, String?)] = [
                ("/v1/completions", "{bad json", .badRequest, nil),
                ("/v1/completions", #"{"prompt": "x", "temperature": -1}"#, .badRequest, "temperature"),
                ("/v1/completions", #"{"prompt": "x", "top_p": 2}"#, .badRequest, "top_p"),
                ("/v1/completions", #"{"prompt": "x", "max_tokens": 0}"#, .badRequest, "max_tokens"),
                ("/v1/completions", #"{"prompt": "x", "max_tokens": "ten"}"#, .badRequest, "max_tokens"),
                ("/v1/completions", #"{"prompt": "x", "stream": "yes"}"#, .badRequest, "stream"),
                ("/v1/completions", #"{"prompt": "x", "n": 99}"#, .badRequest, "n"),
                ("/v1/completions", #"{"prompt": "x", "max_tokens": 100000}"#, .badRequest, "max_tokens"),
                ("/v1/completions", #"{"prompt": 5}"#, .badRequest, "prompt"),
                ("/v1/completions", #"{"prompt": "x", "model": "other"}"#, .notFound, "model"),
                ("/v1/chat/completions", #"{"messages": []}"#, .badRequest, "messages"),
                ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": 3}]}"#, .badRequest, "messages[0].content"),
            ]
            for (path, body, expected, param) in cases {
                let (status, object, _) = try await Self.post(client, path, body)
                #expect(status == expected, "\(body)")
                let error = object["error"] as? [String: Any]
                #expect(error?["message"] is String && error?["type"] is String, "\(body): \(object)")
                if let param { #expect(error?["param"] as? String == param, "\(body): \(object)") }
            }
            let huge = #"{"prompt": ""# + String(repeating: "x", count: 5 << 20) + #""}"#
            let (status, _, _) = try await Self.post(client, "/v1/completions", huge)
            #expect(status == .contentTooLarge)
            // Still serving.
            let (after, _, _) = try await Self.post(client, "/v1/completions", #"{"prompt": "x", "max_tokens": 1}"#)
            #expect(after == .ok)
        }
    }

    @Test func overCapacityAnswers429WithRetryAfter() async throws {
        var server = try Self.server()
        server.maxWaitingRequests = 0  // every request finds the queue "full"
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/v1/completions", method: .post, body: ByteBuffer(string: #"{"prompt": "x"}"#)) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "1")
                #expect((Self.json(response.body)["error"] as? [String: Any])?["type"] as? String == "server_overloaded")
            }
        }
    }

    @Test func modelsHealthAndMetrics() async throws {
        let server = try Self.server(stages: 2)
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/models", method: .get) { response in
                let data = Self.json(response.body)["data"] as? [[String: Any]]
                #expect(data?.first?["id"] as? String == "tiny")
            }
            try await client.execute(uri: "/v1/models/tiny", method: .get) { response in
                #expect(Self.json(response.body)["id"] as? String == "tiny")
            }
            try await client.execute(uri: "/v1/models/other", method: .get) { response in
                #expect(response.status == .notFound)
                #expect((Self.json(response.body)["error"] as? [String: Any])?["code"] as? String == "model_not_found")
            }
            _ = try await Self.post(client, "/v1/completions", #"{"prompt": "x", "max_tokens": 2}"#)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                for name in ["brigade_requests_total{status=\"200\"} 1", "brigade_generation_tokens_total",
                             "brigade_time_to_first_token_seconds_bucket", "brigade_stage_busy_fraction{stage=\"1\"}",
                             "brigade_kv_blocks_used"] {
                    #expect(text.contains(name), "\(name) missing from\n\(text)")
                }
            }
        }
    }
}

/// Anthropic's Messages and OpenAI's Responses on a synthetic model: their shapes, events and errors (the official
/// clients drive a real server in `ServeTests`).
@Suite struct DialectTests {
    @Test func messagesAnswerStreamAndRefuseInAnthropicsShape() async throws {
        let server = try APIServerTests.server(stages: 2)
        try await Application(router: server.router()).test(.router) { client in
            let body = #"{"model": "tiny", "max_tokens": 4, "system": "be brief", "stop_sequences": ["t9 "], "messages": [{"role": "user", "content": "hi"}], "temperature": 0}"#
            let (status, message, _) = try await APIServerTests.post(client, "/v1/messages", body)
            #expect(status == .ok && message["type"] as? String == "message" && (message["id"] as? String)?.hasPrefix("msg_") == true)
            let text = ((message["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(!text.isEmpty && ["max_tokens", "end_turn", "stop_sequence"].contains(message["stop_reason"] as? String ?? ""))
            let usage = message["usage"] as? [String: Any] ?? [:]
            #expect(usage["output_tokens"] as? Int ?? 0 >= 1 && usage["input_tokens"] is Int && usage["cache_read_input_tokens"] is Int)

            let (_, _, events) = try await APIServerTests.post(client, "/v1/messages", body.replacingOccurrences(of: #""max_tokens": 4"#, with: #""max_tokens": 4, "stream": true"#))
            let names = events.components(separatedBy: "\n").filter { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) }
            #expect(names.first == "message_start" && names.prefix(3).contains("content_block_start") && names.contains("ping"))
            #expect(names.suffix(3) == ["content_block_stop", "message_delta", "message_stop"], "\(names)")
            let deltas = events.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") && $0.contains("text_delta") }
                .compactMap { ((APIServerTests.json(ByteBuffer(string: String($0.dropFirst(6))))["delta"]) as? [String: Any])?["text"] as? String }
            #expect(deltas.joined() == text, "the streamed text is the text")

            let (count, counted, _) = try await APIServerTests.post(client, "/v1/messages/count_tokens", #"{"messages": [{"role": "user", "content": "hi"}]}"#)
            #expect(count == .ok && (counted["input_tokens"] as? Int ?? 0) > 0)

            for (bad, field) in [(#"{"messages": [{"role": "user", "content": "hi"}]}"#, "max_tokens"),
                                 (#"{"max_tokens": 4, "messages": [{"role": "tool", "content": "hi"}]}"#, "messages[0]"),
                                 (#"{"max_tokens": 4, "messages": [{"role": "user", "content": [{"type": "image"}]}]}"#, "image"),
                                 (#"{"max_tokens": 4, "tools": [{"type": "web_search_20250305", "name": "web_search"}], "messages": [{"role": "user", "content": "hi"}]}"#, "server tools"),
                                 (#"{"max_tokens": 4, "model": "other", "messages": [{"role": "user", "content": "hi"}]}"#, "other")] {
                let (status, error, raw) = try await APIServerTests.post(client, "/v1/messages", bad)
                let detail = error["error"] as? [String: Any] ?? [:]
                #expect([.badRequest, .notFound].contains(status) && error["type"] as? String == "error", "\(raw)")
                #expect((detail["message"] as? String ?? "").contains(field) && detail["type"] is String, "\(raw)")
            }
        }
    }

    @Test func responsesAnswerStreamSemanticEventsAndRefuseWhatTheyDoNotStore() async throws {
        let server = try APIServerTests.server()
        try await Application(router: server.router()).test(.router) { client in
            let body = #"{"input": "hi", "instructions": "be brief", "max_output_tokens": 3, "temperature": 0}"#
            let (status, response, _) = try await APIServerTests.post(client, "/v1/responses", body)
            #expect(status == .ok && response["object"] as? String == "response" && response["status"] as? String == "incomplete")
            #expect((response["incomplete_details"] as? [String: Any])?["reason"] as? String == "max_output_tokens")
            let item = (response["output"] as? [[String: Any]])?.first ?? [:]
            let text = ((item["content"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(item["type"] as? String == "message" && !text.isEmpty)
            #expect((response["usage"] as? [String: Any])?["output_tokens"] as? Int == 3)

            let (_, _, events) = try await APIServerTests.post(client, "/v1/responses", body.replacingOccurrences(of: "\"input\"", with: "\"stream\": true, \"input\""))
            let payloads = events.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }
                .map { APIServerTests.json(ByteBuffer(string: String($0.dropFirst(6)))) }
            let types = payloads.compactMap { $0["type"] as? String }
            #expect(types.prefix(4) == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"])
            #expect(types.suffix(4) == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"])
            #expect(payloads.compactMap { $0["sequence_number"] as? Int } == Array(0..<payloads.count))
            #expect(payloads.filter { $0["type"] as? String == "response.output_text.delta" }.compactMap { $0["delta"] as? String }.joined() == text)

            for (bad, field) in [(#"{"input": "hi", "store": true}"#, "store"), (#"{"input": "hi", "previous_response_id": "resp_1"}"#, "previous_response_id"),
                                 (#"{"input": 7}"#, "input"), (#"{"input": [{"role": "user", "content": [{"type": "input_image"}]}]}"#, "input[0].content[0]")] {
                let (status, error, raw) = try await APIServerTests.post(client, "/v1/responses", bad)
                #expect(status == .badRequest && (error["error"] as? [String: Any])?["param"] as? String == field, "\(raw)")
            }
        }
    }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import Server
import Testing

/// `--api-key`, request limits and the published API description.
@Suite struct AccessControlTests {
    static func keyed() throws -> APIServer {
        var server = try APIServerTests.server()
        server.apiKey = "sk-test-0123456789"
        return server
    }

    static let completion = ByteBuffer(string: #"{"prompt": "x", "max_tokens": 1}"#)

    @Test func requestsNeedTheBearerKey() async throws {
        try await Application(router: Self.keyed().router()).test(.router) { client in
            for headers: HTTPFields in [[:], [.authorization: "Bearer sk-wrong-0123456789"], [.authorization: "sk-test-0123456789"],
                                        [.authorization: "Bearer sk-test-012345678"], [.authorization: "Bearer "]] {
                try await client.execute(uri: "/v1/completions", method: .post, headers: headers, body: Self.completion) { response in
                    #expect(response.status == .unauthorized, "\(headers)")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer")
                    let error = APIServerTests.json(response.body)["error"] as? [String: Any]
                    #expect(error?["code"] as? String == "invalid_api_key" && error?["message"] is String)
                }
            }
            try await client.execute(uri: "/v1/models", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/completions", method: .post, headers: [.authorization: "Bearer sk-test-0123456789"],
                                     body: Self.completion) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "bearer sk-test-0123456789"]) {
                #expect($0.status == .ok, "the scheme name is case-insensitive")
            }
            for open in ["/health", "/metrics", "/openapi.json"] {
                try await client.execute(uri: open, method: .get) { #expect($0.status == .ok, "\(open) stays open by default") }
            }
        }
    }

    @Test func openPathsAreConfigurable() async throws {
        var server = try Self.keyed()
        server.unauthenticatedPaths = ["/health"]
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .unauthorized) }
        }
    }

    @Test func longPromptsAreRefusedNamingTheField() async throws {
        var server = try APIServerTests.server()
        server.maxPromptTokens = 5
        try await Application(router: server.router()).test(.router) { client in
            let (status, body, _) = try await APIServerTests.post(client, "/v1/completions", #"{"prompt": "abcdefgh", "max_tokens": 1}"#)
            #expect(status == .badRequest)
            #expect((body["error"] as? [String: Any])?["param"] as? String == "prompt")
            let (chat, chatBody, _) = try await APIServerTests.post(client, "/v1/chat/completions",
                                                                    #"{"messages": [{"role": "user", "content": "a long message"}]}"#)
            #expect(chat == .badRequest && (chatBody["error"] as? [String: Any])?["param"] as? String == "messages")
            let (short, _, _) = try await APIServerTests.post(client, "/v1/completions", #"{"prompt": "abc", "max_tokens": 1}"#)
            #expect(short == .ok)
        }
    }

    @Test func theOpenAPIDocumentDescribesEveryRoute() async throws {
        try await Application(router: APIServerTests.server().router()).test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                let document = APIServerTests.json(response.body)
                #expect(document["openapi"] as? String == "3.1.0")
                let paths = document["paths"] as? [String: Any] ?? [:]
                #expect(Set(paths.keys) == ["/v1/completions", "/v1/chat/completions", "/v1/models", "/v1/models/{id}", "/health", "/metrics",
                                            "/openapi.json", "/v1/messages", "/v1/messages/count_tokens", "/v1/responses"])
                let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any] ?? [:]
                let chat = (schemas["ChatCompletionRequest"] as? [String: Any])?["properties"] as? [String: Any] ?? [:]
                for field in ["messages", "temperature", "top_p", "stream", "logprobs", "top_logprobs", "n", "stop", "seed"] {
                    #expect(chat[field] != nil, "\(field) missing from the chat schema")
                }
            }
        }
    }
}

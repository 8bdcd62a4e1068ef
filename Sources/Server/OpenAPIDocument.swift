import Foundation

/// The server's OpenAPI 3.1 document (`GET /openapi.json`): every route, the request fields the server reads with
/// their types and ranges, and the error object, so schema-based clients and fuzzers know what to send.
enum OpenAPIDocument {
    static func json(modelName: String?) -> [String: Any] {
        let error: [String: Any] = ["$ref": "#/components/schemas/Error"]
        func errors(_ codes: [Int]) -> [String: Any] {
            Dictionary(uniqueKeysWithValues: codes.map { code in
                (String(code), ["description": description(code), "content": ["application/json": ["schema": error]]] as [String: Any])
            })
        }
        func post(_ summary: String, schema: String) -> [String: Any] {
            var responses = errors([400, 401, 404, 413, 429, 503])
            responses["200"] = ["description": "The completion; with stream: true, server-sent events ending in data: [DONE]",
                                "content": ["application/json": ["schema": ["type": "object"]], "text/event-stream": ["schema": ["type": "string"]]]]
            return ["post": ["summary": summary, "requestBody": ["required": true,
                                                                  "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(schema)"]]]],
                             "responses": responses]]
        }
        func get(_ summary: String, type: String, codes: [Int] = []) -> [String: Any] {
            var responses = errors(codes)
            responses["200"] = ["description": "OK", "content": [type: ["schema": type == "application/json" ? ["type": "object"] : ["type": "string"]]]]
            return ["get": ["summary": summary, "responses": responses]]
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "Brigade", "version": "1", "description": "OpenAI-compatible (and Anthropic Messages) API of a Brigade server" + (modelName.map { " serving \($0)" } ?? "")],
            "paths": [
                "/v1/completions": post("Text completion", schema: "CompletionRequest"),
                "/v1/chat/completions": post("Chat completion", schema: "ChatCompletionRequest"),
                "/v1/messages": post("Anthropic Messages: a reply; with stream: true, Anthropic's named events", schema: "MessagesRequest"),
                "/v1/messages/count_tokens": post("Anthropic Messages: the prompt's token count", schema: "CountTokensRequest"),
                "/v1/responses": post("OpenAI Responses: a response; with stream: true, its semantic events", schema: "ResponsesRequest"),
                "/v1/models": get("The served model", type: "application/json", codes: [401, 503]),
                "/v1/models/{id}": ["get": ["summary": "One model", "parameters": [["name": "id", "in": "path", "required": true, "schema": ["type": "string"]]],
                                            "responses": errors([401, 404, 503]).merging(["200": ["description": "The model object"]]) { $1 }]],
                "/health": get("200 ok while serving; 503 while loading, stopping or after a pipeline fault", type: "text/plain", codes: [503]),
                "/metrics": get("Prometheus metrics", type: "text/plain"),
                "/openapi.json": get("This document", type: "application/json"),
            ],
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
                "schemas": [
                    "CompletionRequest": request(extra: [
                        "prompt": ["oneOf": [["type": "string", "minLength": 1], ["type": "array", "minItems": 1, "items": ["type": "integer", "minimum": 0]]]],
                        "logprobs": ["type": ["integer", "null"], "minimum": 0, "maximum": 20],
                        "echo": ["type": "boolean"],
                        "max_tokens": ["type": ["integer", "null"], "minimum": 1],
                    ], required: ["prompt"]),
                    "ChatCompletionRequest": request(extra: [
                        "messages": ["type": "array", "minItems": 1, "items": [
                            "type": "object", "required": ["role"],
                            "properties": ["role": ["type": "string"], "content": ["oneOf": [
                                ["type": "string"], ["type": "null"],
                                ["type": "array", "items": ["type": "object", "required": ["type", "text"],
                                                            "properties": ["type": ["const": "text"], "text": ["type": "string"]]]],
                            ]]],
                        ]],
                        "logprobs": ["type": ["boolean", "null"]],
                        "top_logprobs": ["type": ["integer", "null"], "minimum": 0, "maximum": 20,
                                         "description": "needs logprobs: true"],
                        "max_tokens": ["type": ["integer", "null"], "minimum": 1],
                        "max_completion_tokens": ["type": ["integer", "null"], "minimum": 1],
                    ], required: ["messages"]),
                    "MessagesRequest": messagesRequest(required: ["max_tokens", "messages"]),
                    "CountTokensRequest": messagesRequest(required: ["messages"]),
                    "ResponsesRequest": ["type": "object", "required": ["input"], "properties": [
                        "model": ["type": ["string", "null"]],
                        "input": ["oneOf": [["type": "string"], ["type": "array", "minItems": 1, "items": [
                            "type": "object", "required": ["role", "content"],
                            "properties": ["role": ["enum": ["user", "assistant", "system", "developer"]],
                                           "content": textContent(types: ["input_text", "output_text"])],
                        ]]]],
                        "instructions": ["type": ["string", "null"]],
                        "max_output_tokens": ["type": ["integer", "null"], "minimum": 1],
                        "temperature": ["type": ["number", "null"], "minimum": 0],
                        "top_p": ["type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1],
                        "stream": ["type": ["boolean", "null"]],
                        "store": ["type": ["boolean", "null"], "description": "responses are not stored: true is refused"],
                        "metadata": ["type": ["object", "null"], "additionalProperties": ["type": "string"]],
                    ]],
                    "Error": ["type": "object", "required": ["error"], "properties": ["error": [
                        "type": "object", "required": ["message", "type"],
                        "properties": ["message": ["type": "string"], "type": ["type": "string"],
                                       "param": ["type": ["string", "null"]], "code": ["type": ["string", "null"]]],
                    ]]],
                ],
            ],
        ]
    }

    /// A string or a list of `{"type": <one of types>, "text": …}` blocks.
    static func textContent(types: [String]) -> [String: Any] {
        ["oneOf": [["type": "string"], ["type": "array", "items": [
            "type": "object", "required": ["type", "text"], "properties": ["type": ["enum": types], "text": ["type": "string"]],
        ]]]]
    }

    /// Anthropic's Messages request (text blocks only).
    static func messagesRequest(required: [String]) -> [String: Any] {
        ["type": "object", "required": required, "properties": [
            "model": ["type": "string"],
            "max_tokens": ["type": "integer", "minimum": 1],
            "system": textContent(types: ["text"]),
            "messages": ["type": "array", "minItems": 1, "items": [
                "type": "object", "required": ["role", "content"],
                "properties": ["role": ["enum": ["user", "assistant"]], "content": textContent(types: ["text"])],
            ]],
            "stop_sequences": ["type": "array", "items": ["type": "string"]],
            "temperature": ["type": "number", "minimum": 0, "maximum": 1],
            "top_p": ["type": "number", "exclusiveMinimum": 0, "maximum": 1],
            "top_k": ["type": "integer", "minimum": 0],
            "metadata": ["type": "object"],
            "stream": ["type": "boolean"],
        ]]
    }

    /// The fields both completion endpoints read, plus `extra`.
    static func request(extra: [String: Any], required: [String]) -> [String: Any] {
        var properties: [String: Any] = [
            "model": ["type": ["string", "null"]],
            "stream": ["type": ["boolean", "null"]],
            "stream_options": ["type": ["object", "null"], "properties": ["include_usage": ["type": "boolean"]]],
            "temperature": ["type": ["number", "null"], "minimum": 0],
            "top_p": ["type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1],
            "top_k": ["type": ["integer", "null"], "minimum": -1],
            "min_p": ["type": ["number", "null"], "minimum": 0, "maximum": 1],
            "seed": ["type": ["integer", "null"]],
            "stop": ["oneOf": [["type": "string"], ["type": "array", "items": ["type": "string"]], ["type": "null"]]],
            "stop_token_ids": ["type": ["array", "null"], "items": ["type": "integer", "minimum": 0]],
            "presence_penalty": ["type": ["number", "null"], "minimum": -2, "maximum": 2],
            "frequency_penalty": ["type": ["number", "null"], "minimum": -2, "maximum": 2],
            "repetition_penalty": ["type": ["number", "null"], "exclusiveMinimum": 0],
            "n": ["type": ["integer", "null"], "minimum": 1, "maximum": 16],
            "ignore_eos": ["type": ["boolean", "null"]],
            "min_tokens": ["type": ["integer", "null"], "minimum": 0],
            "user": ["type": ["string", "null"]],
        ]
        properties.merge(extra) { _, new in new }
        return ["type": "object", "required": required, "properties": properties]
    }

    static func description(_ code: Int) -> String {
        switch code {
        case 400: "A field has the wrong type or is out of range (the error names it)"
        case 401: "Missing or wrong API key (with --api-key)"
        case 404: "Unknown model"
        case 413: "Request body too large"
        case 429: "Too many requests waiting; retry after Retry-After seconds"
        default: "Loading, stopping, or the pipeline failed; retry after Retry-After seconds"
        }
    }
}

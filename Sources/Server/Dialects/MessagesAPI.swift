import ChatTemplates
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Anthropic's Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`) on the engine's chat path:
/// the same chat template, sampling, limits, metrics and cancellation as Chat Completions, with Anthropic's request
/// fields, response object, streaming events and error shape.
enum MessagesAPI {
    /// A checked Messages request: the engine request and what the answer echoes.
    struct Parsed: Sendable {
        var request: ParsedRequest
        var stopSequences: [String]
    }

    /// Reads a Messages request body (`countOnly`: `count_tokens`, which needs no `max_tokens`).
    static func parse(_ fields: Fields, served: ServedModel, countOnly: Bool = false) throws(APIError) -> Parsed {
        if fields.has("thinking"), (fields.object["thinking"] as? [String: Any])?["type"] as? String != "disabled" {
            throw .invalid("thinking", "extended thinking is not supported; leave thinking out or set {\"type\": \"disabled\"}")
        }
        guard countOnly || fields.has("max_tokens") else { throw .invalid("max_tokens", "max_tokens is required") }
        if fields.has("metadata") && !(fields.object["metadata"] is [String: Any]) {
            throw .invalid("metadata", "metadata must be an object")
        }
        var messages: [ChatMessage] = []
        if fields.has("system") {
            messages.append(ChatMessage(role: "system", content: .string(
                try ParsedRequest.text(of: fields.object["system"], field: "system", textTypes: ["text"]))))
        }
        guard let list = fields.object["messages"] as? [Any], !list.isEmpty else {
            throw .invalid("messages", "messages must be a non-empty list of {role, content} objects")
        }
        for (index, item) in list.enumerated() {
            guard let message = item as? [String: Any], let role = message["role"] as? String, ["user", "assistant"].contains(role) else {
                throw .invalid("messages[\(index)]", "messages[\(index)] must be an object whose role is user or assistant")
            }
            messages += try chatMessages(role: role, content: message["content"], index: index)
        }
        let stops = try fields.strings("stop_sequences")
        let request = try ParsedRequest(dialect: fields, messages: messages, served: served,
                                        maxTokens: countOnly ? 1 : try fields.integer("max_tokens"), maxTokensField: "max_tokens",
                                        stopStrings: stops, stream: try fields.bool("stream") ?? false,
                                        structured: try structured(fields))
        return Parsed(request: request, stopSequences: stops)
    }

    /// `end_turn`, `max_tokens`, `tool_use` or `stop_sequence` (with the sequence).
    static func stopReason(_ result: GenerationResult, _ call: Call, _ parsed: Parsed, madeCalls: Bool = false) -> (reason: Any, sequence: Any) {
        switch result.finishReason {
        case .length: return ("max_tokens", NSNull())
        case .abort: return ("end_turn", NSNull())
        case .stop:
            if madeCalls { return ("tool_use", NSNull()) }
            if let stop = call.stopString(result, among: parsed.stopSequences) { return ("stop_sequence", stop) }
            return ("end_turn", NSNull())
        }
    }

    /// Anthropic's usage: `input_tokens` counts the prompt tokens computed, `cache_read_input_tokens` those the prefix
    /// cache supplied.
    static func usage(_ result: GenerationResult, promptTokens: Int, output: Int? = nil) -> [String: Any] {
        let cached = min(result.usage.cachedPromptTokens, promptTokens)
        return ["input_tokens": promptTokens - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
                "output_tokens": output ?? result.usage.completionTokens]
    }

    /// The `message` object of a finished (or, streaming, just started) request.
    static func message(_ call: Call, _ result: GenerationResult, _ parsed: Parsed, started: Bool = false) -> [String: Any] {
        var message: [String: Any] = ["id": call.id, "type": "message", "role": "assistant", "model": call.model.name]
        if started {
            message["content"] = [Any]()
            message["stop_reason"] = NSNull()
            message["stop_sequence"] = NSNull()
        } else {
            let (blocks, madeCalls) = contentBlocks(call, result)
            let (reason, sequence) = stopReason(result, call, parsed, madeCalls: madeCalls)
            message["content"] = blocks
            message["stop_reason"] = reason
            message["stop_sequence"] = sequence
        }
        message["usage"] = usage(result, promptTokens: parsed.request.promptTokenIDs.count, output: started ? 1 : nil)
        return message
    }

    /// The event stream: `message_start`, a text block (`content_block_start`, `ping`, `content_block_delta`s,
    /// `content_block_stop`), `message_delta` with the stop reason and usage, `message_stop`.
    static func streamingResponse(_ call: Call, _ stream: Call.Stream, _ parsed: Parsed) -> Response {
        if parsed.request.structured.parsesToolCalls { return toolStreamingResponse(call, stream, parsed) }
        let opening = [
            call.namedEvent("message_start", ["type": "message_start", "message": message(call, GenerationResult(requestID: call.id), parsed, started: true)]),
            call.namedEvent("content_block_start", ["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]]),
            call.namedEvent("ping", ["type": "ping"]),
        ]
        return call.streamingResponse(stream, opening: opening, events: { output, result in
            guard let output else {
                let (reason, sequence) = stopReason(result, call, parsed)
                let usage = usage(result, promptTokens: parsed.request.promptTokenIDs.count)
                return [call.namedEvent("content_block_stop", ["type": "content_block_stop", "index": 0]),
                        call.namedEvent("message_delta", ["type": "message_delta", "delta": ["stop_reason": reason, "stop_sequence": sequence],
                                                          "usage": usage]),
                        call.namedEvent("message_stop", ["type": "message_stop"])]
            }
            guard !output.textDelta.isEmpty else { return [] }
            return [call.namedEvent("content_block_delta", ["type": "content_block_delta", "index": 0,
                                                            "delta": ["type": "text_delta", "text": output.textDelta]])]
        }, failed: { error in
            call.namedEvent("error", errorBody(APIServer.apiError(error)))
        })
    }

    /// The event stream with tools: blocks opened as the output reaches them (`BlockStream`).
    static func toolStreamingResponse(_ call: Call, _ stream: Call.Stream, _ parsed: Parsed) -> Response {
        let blocks = BlockStream(toolNames: parsed.request.structured.toolNames)
        let opening = [
            call.namedEvent("message_start", ["type": "message_start", "message": message(call, GenerationResult(requestID: call.id), parsed, started: true)]),
            call.namedEvent("ping", ["type": "ping"]),
        ]
        return call.streamingResponse(stream, opening: opening, events: { output, result in
            guard let output else {
                let closing = blocks.events("", final: true, call)
                let (reason, sequence) = stopReason(result, call, parsed, madeCalls: blocks.madeCalls)
                return closing + [
                    call.namedEvent("message_delta", ["type": "message_delta", "delta": ["stop_reason": reason, "stop_sequence": sequence],
                                                      "usage": usage(result, promptTokens: parsed.request.promptTokenIDs.count)]),
                    call.namedEvent("message_stop", ["type": "message_stop"])]
            }
            return blocks.events(output.textDelta, final: false, call)
        }, failed: { error in
            call.namedEvent("error", errorBody(APIServer.apiError(error)))
        })
    }

    /// Anthropic's error object: `{"type": "error", "error": {"type", "message"}}`.
    static func errorBody(_ error: APIError) -> [String: Any] {
        let type: String
        switch error.status.code {
        case 400, 409, 422: type = "invalid_request_error"
        case 401: type = "authentication_error"
        case 403: type = "permission_error"
        case 404: type = "not_found_error"
        case 413: type = "request_too_large"
        case 429: type = "rate_limit_error"
        case 503: type = "overloaded_error"
        default: type = "api_error"
        }
        return ["type": "error", "error": ["type": type, "message": error.message]]
    }

    static func errorResponse(_ error: APIError) -> Response {
        var response = APIServer.json(error.status, errorBody(error))
        if error.status == .tooManyRequests || error.status == .serviceUnavailable { response.headers[.retryAfter] = "1" }
        return response
    }
}

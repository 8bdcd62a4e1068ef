import ChatTemplates
import Engine
import Foundation
import Hummingbird
import Kernels
import NIOCore

/// OpenAI's Responses API (`POST /v1/responses`) on the engine's chat path: `input` as text or messages,
/// `instructions`, `max_output_tokens`, and the semantic streaming events the official client's `responses.stream`
/// accumulates. Responses are not stored: `store: true` and `previous_response_id` are refused with what to send
/// instead (the whole conversation as `input`).
enum ResponsesAPI {
    /// What a response object echoes of its request.
    struct Settings: Sendable {
        var instructions: String?
        var maxOutputTokens: Int?
        var temperature: Double
        var topP: Double
        var metadata: [String: String]
    }

    static func parse(_ fields: Fields, served: ServedModel) throws(APIError) -> (ParsedRequest, Settings) {
        if fields.has("previous_response_id") {
            throw .invalid("previous_response_id", "this server does not store responses: send the whole conversation as input")
        }
        if try fields.bool("store") == true {
            throw .invalid("store", "this server does not store responses; send store: false (or leave it out)")
        }
        var messages: [ChatMessage] = []
        if let instructions = try fields.string("instructions") {
            messages.append(ChatMessage(role: "system", content: .string(instructions)))
        }
        switch fields.object["input"] {
        case let text as String:
            messages.append(ChatMessage(role: "user", content: .string(text)))
        case let items as [Any] where !items.isEmpty:
            for (index, item) in items.enumerated() {
                if let item = item as? [String: Any], let message = try toolMessage(item, index: index) {
                    messages.append(message)
                    continue
                }
                guard let item = item as? [String: Any], (item["type"] as? String ?? "message") == "message",
                      let role = item["role"] as? String, ["user", "assistant", "system", "developer"].contains(role) else {
                    throw .invalid("input[\(index)]", "input[\(index)] must be a message: {role: user|assistant|system|developer, content}")
                }
                let text = try ParsedRequest.text(of: item["content"], field: "input[\(index)].content",
                                                  textTypes: ["input_text", "output_text", "text"])
                messages.append(ChatMessage(role: role == "developer" ? "system" : role, content: .string(text)))
            }
        default:
            throw .invalid("input", "input must be a string or a non-empty list of messages")
        }
        let maxOutputTokens = try fields.integer("max_output_tokens")
        let request = try ParsedRequest(dialect: fields, messages: messages, served: served, maxTokens: maxOutputTokens,
                                        maxTokensField: "max_output_tokens", stopStrings: [], stream: try fields.bool("stream") ?? false,
                                        structured: try structured(fields))
        var metadata: [String: String] = [:]
        if fields.has("metadata") {
            guard let object = fields.object["metadata"] as? [String: Any], let strings = object as? [String: String] else {
                throw .invalid("metadata", "metadata must be an object of strings")
            }
            metadata = strings
        }
        let settings = Settings(instructions: try fields.string("instructions"), maxOutputTokens: maxOutputTokens,
                                temperature: try fields.number("temperature") ?? 1, topP: try fields.number("top_p") ?? 1,
                                metadata: metadata)
        return (request, settings)
    }

    /// The `response` object: `in_progress` while streaming starts, then `completed` (or `incomplete` at the token limit).
    static func response(_ call: Call, _ result: GenerationResult?, _ settings: Settings) -> [String: Any] {
        let status = result == nil ? "in_progress" : result!.finishReason == .length ? "incomplete" : "completed"
        var object: [String: Any] = [
            "id": call.id, "object": "response", "created_at": call.created, "status": status, "model": call.model.name,
            "output": result.map { outputItems(call, $0) } ?? [],
            "error": NSNull(), "incomplete_details": result?.finishReason == .length ? ["reason": "max_output_tokens"] : NSNull(),
            "instructions": settings.instructions as Any? ?? NSNull(),
            "max_output_tokens": settings.maxOutputTokens as Any? ?? NSNull(),
            "temperature": settings.temperature, "top_p": settings.topP,
            "parallel_tool_calls": call.parsed.structured.parallelToolCalls,
            "tool_choice": call.parsed.structured.tools.isEmpty ? "none" : call.parsed.structured.toolChoice.responsesValue,
            "tools": call.parsed.structured.tools.map { ["type": "function", "name": $0.name] },
            "text": ["format": ["type": call.parsed.structured.grammarField == "text.format" ? "json_schema" : "text"]],
            "previous_response_id": NSNull(), "store": false, "metadata": settings.metadata,
        ]
        if let result {
            let prompt = call.parsed.promptTokenIDs.count, output = result.usage.completionTokens
            object["usage"] = ["input_tokens": prompt, "input_tokens_details": ["cached_tokens": result.usage.cachedPromptTokens],
                               "output_tokens": output, "output_tokens_details": ["reasoning_tokens": 0],
                               "total_tokens": prompt + output]
        } else {
            object["usage"] = NSNull()
        }
        return object
    }

    static func messageID(_ call: Call) -> String { "msg_" + call.id.dropFirst("resp_".count) }

    static func outputItem(_ call: Call, text: String?, done: Bool) -> [String: Any] {
        ["type": "message", "id": messageID(call), "status": done ? "completed" : "in_progress", "role": "assistant",
         "content": text.map { [textPart($0)] } ?? []]
    }

    static func textPart(_ text: String) -> [String: Any] { ["type": "output_text", "text": text, "annotations": [Any]()] }

    /// `response.created`, `response.in_progress`, the message item and its text part opening, one
    /// `response.output_text.delta` per update, then the part, item and response closing (`response.completed`).
    static func streamingResponse(_ call: Call, _ stream: Call.Stream, _ settings: Settings) -> Response {
        let sequence = Counter()
        let item = messageID(call)
        let event: @Sendable (String, [String: Any]) -> ByteBuffer = { type, payload in
            var object = payload
            object["type"] = type
            object["sequence_number"] = sequence.next()
            return call.namedEvent(type, object)
        }
        // The fields that place an event in the one text part of the one message.
        let text: @Sendable ([String: Any]) -> [String: Any] = { fields in
            fields.merging(["item_id": item, "output_index": 0, "content_index": 0]) { $1 }
        }
        if call.parsed.structured.parsesToolCalls {
            let items = ItemStream(toolNames: call.parsed.structured.toolNames)
            return call.streamingResponse(stream, opening: [event("response.created", ["response": response(call, nil, settings)]),
                                                            event("response.in_progress", ["response": response(call, nil, settings)])],
                                          events: { output, result in
                guard let output else {
                    return items.events("", final: true, call, event: event)
                        + [event(result.finishReason == .length ? "response.incomplete" : "response.completed",
                                 ["response": response(call, result, settings)])]
                }
                return items.events(output.textDelta, final: false, call, event: event)
            }, failed: { error in failure(error, event) })
        }
        let opening = [
            event("response.created", ["response": response(call, nil, settings)]),
            event("response.in_progress", ["response": response(call, nil, settings)]),
            event("response.output_item.added", ["output_index": 0, "item": outputItem(call, text: nil, done: false)]),
            event("response.content_part.added", text(["part": textPart("")])),
        ]
        return call.streamingResponse(stream, opening: opening, events: { output, result in
            guard let output else {
                return [event("response.output_text.done", text(["text": result.text, "logprobs": [Any]()])),
                        event("response.content_part.done", text(["part": textPart(result.text)])),
                        event("response.output_item.done", ["output_index": 0, "item": outputItem(call, text: result.text, done: true)]),
                        event(result.finishReason == .length ? "response.incomplete" : "response.completed",
                              ["response": response(call, result, settings)])]
            }
            guard !output.textDelta.isEmpty else { return [] }
            return [event("response.output_text.delta", text(["delta": output.textDelta, "logprobs": [Any]()]))]
        }, failed: { error in failure(error, event) })
    }

    /// The `error` event of a stream that failed.
    static func failure(_ error: EngineError, _ event: (String, [String: Any]) -> ByteBuffer) -> ByteBuffer {
        let failure = APIServer.apiError(error)
        return event("error", ["code": failure.code ?? failure.type, "message": failure.message, "param": failure.param as Any? ?? NSNull()])
    }
}

/// The `sequence_number` of a stream's events.
private final class Counter: Sendable {
    private let value = Locked(0)
    func next() -> Int { value.withLock { value in defer { value += 1 }; return value } }
}

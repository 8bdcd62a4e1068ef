import ChatTemplates
import Engine
import Foundation
import Grammar
import Kernels
import NIOCore

/// Structured output and function calling in OpenAI's Responses API: `text.format` (`json_schema`, `json_object`),
/// `tools` of type function, `tool_choice`, `parallel_tool_calls`; `function_call` and `function_call_output` input
/// items; `function_call` output items, streamed with `response.function_call_arguments.delta` events.
extension ResponsesAPI {
    static func structured(_ fields: Fields) throws(APIError) -> StructuredOutput {
        guard ["tools", "tool_choice", "text", "parallel_tool_calls"].contains(where: fields.has) else { return .none }
        let body = try fields.orderedBody()
        var format: String?
        if let spec = body["text"]?["format"], spec != .null {
            switch spec["type"]?.stringValue {
            case "text", nil: break
            case "json_object": format = JSONSchemaGrammar.anyObject
            case "json_schema":
                guard let schema = spec["schema"] else { throw .invalid("text.format.schema", "a json_schema format needs a schema") }
                format = try StructuredOutput.schemaGrammar(schema.text, param: "text.format.schema")
            case let other?: throw .invalid("text.format.type", "text.format.type must be text, json_object or json_schema, got \(other)")
            }
        }
        var tools: [Tool] = []
        if let list = body["tools"], list != .null {
            guard case .array(let items) = list else { throw .invalid("tools", "tools must be a list of {type: function, name, parameters}") }
            for (index, item) in items.enumerated() {
                guard item["type"]?.stringValue == "function" else {
                    throw .invalid("tools[\(index)].type", "only function tools are supported (built-in tools such as web search are not)")
                }
                guard case .string(let name)? = item["name"] else { throw .invalid("tools[\(index)].name", "tools[\(index)] needs a name") }
                tools.append(try Tool(name: name, description: item["description"]?.stringValue, parameters: item["parameters"],
                                      field: "tools[\(index)].name"))
            }
        }
        var choice = ToolChoice.auto
        switch body["tool_choice"] {
        case nil, .null?: break
        case .string("auto")?: choice = .auto
        case .string("none")?: choice = .none
        case .string("required")?: choice = .required
        case let object? where object["type"]?.stringValue == "function" && object["name"]?.stringValue != nil:
            choice = .function(object["name"]!.stringValue!)
        default: throw .invalid("tool_choice", "tool_choice must be auto, none, required or {\"type\": \"function\", \"name\": …}")
        }
        let parallel = body["parallel_tool_calls"]?.boolValue ?? true
        return try StructuredOutput(format: format, formatField: format == nil ? nil : "text.format", tools: tools,
                                    toolChoice: choice, parallelToolCalls: parallel)
    }

    /// A `function_call` or `function_call_output` input item as a chat message (nil for other items).
    static func toolMessage(_ item: [String: Any], index: Int) throws(APIError) -> ChatMessage? {
        switch item["type"] as? String {
        case "function_call":
            guard let callID = item["call_id"] as? String, let name = item["name"] as? String else {
                throw .invalid("input[\(index)]", "a function_call item needs call_id, name and arguments")
            }
            let arguments = (try? JinjaValue(parsingJSON: item["arguments"] as? String ?? "{}")) ?? .dictionary([:])
            return ChatMessage(role: "assistant", content: .string(""),
                               fields: ["tool_calls": .array([StructuredOutput.templateToolCall(id: callID, name: name, arguments: arguments)])])
        case "function_call_output":
            guard let callID = item["call_id"] as? String else { throw .invalid("input[\(index)]", "a function_call_output item needs a call_id") }
            let output = item["output"] as? String ?? (try? ParsedRequest.text(of: item["output"], field: "input[\(index)].output",
                                                                                 textTypes: ["input_text", "output_text", "text"])) ?? ""
            return ChatMessage(role: "tool", content: .string(output), fields: ["tool_call_id": .string(callID)])
        default:
            return nil
        }
    }

    static func functionCallItem(_ toolCall: ToolCall, done: Bool) -> [String: Any] {
        ["type": "function_call", "id": "fc_" + toolCall.id.dropFirst("call_".count), "call_id": toolCall.id, "name": toolCall.name,
         "arguments": done ? toolCall.arguments : "", "status": done ? "completed" : "in_progress"]
    }

    /// The output items of a finished response: the message (when there is text), then one `function_call` per call.
    static func outputItems(_ call: Call, _ result: GenerationResult) -> [[String: Any]] {
        guard call.parsed.structured.parsesToolCalls else { return [outputItem(call, text: result.text, done: true)] }
        let (text, calls) = ToolCallStream.split(result.text, toolNames: call.parsed.structured.toolNames)
        let message = text.isEmpty && !calls.isEmpty ? [] : [outputItem(call, text: text, done: true)]
        return message + calls.map { functionCallItem($0, done: true) }
    }

    /// Streamed output items with tools: the message item and `function_call` items, opened as the output reaches them.
    final class ItemStream: Sendable {
        private struct State {
            var tools: ToolCallStream
            /// The open item: its output index, and the call it is (nil: the message).
            var open: (index: Int, call: Int?)?
            var next = 0
            var text = ""
        }
        private let state: Locked<State>

        init(toolNames: Set<String>) {
            state = Locked(State(tools: ToolCallStream(toolNames: toolNames)))
        }

        func events(_ delta: String, final: Bool, _ call: Call, event: (String, [String: Any]) -> ByteBuffer) -> [ByteBuffer] {
            state.withLock { s in
                var out: [ByteBuffer] = []
                func close() {
                    guard let open = s.open else { return }
                    if let n = open.call {
                        let toolCall = s.tools.calls[n]
                        let item = ResponsesAPI.functionCallItem(toolCall, done: true)
                        out.append(event("response.function_call_arguments.done", ["item_id": item["id"]!, "output_index": open.index,
                                                                                   "arguments": toolCall.arguments]))
                        out.append(event("response.output_item.done", ["output_index": open.index, "item": item]))
                    } else {
                        let place: [String: Any] = ["item_id": ResponsesAPI.messageID(call), "output_index": open.index, "content_index": 0]
                        out.append(event("response.output_text.done", place.merging(["text": s.text, "logprobs": [Any]()]) { $1 }))
                        out.append(event("response.content_part.done", place.merging(["part": ResponsesAPI.textPart(s.text)]) { $1 }))
                        var item = ResponsesAPI.outputItem(call, text: s.text, done: true)
                        item["id"] = ResponsesAPI.messageID(call)
                        out.append(event("response.output_item.done", ["output_index": open.index, "item": item]))
                    }
                    s.open = nil
                }
                for piece in s.tools.feed(delta) + (final ? s.tools.finish() : []) {
                    switch piece {
                    case .content(let text):
                        if s.open == nil || s.open?.call != nil {
                            if text.allSatisfy(\.isWhitespace) { continue }
                            close()
                            s.open = (s.next, nil)
                            s.next += 1
                            out.append(event("response.output_item.added", ["output_index": s.open!.index,
                                                                            "item": ResponsesAPI.outputItem(call, text: nil, done: false)]))
                            out.append(event("response.content_part.added", ["item_id": ResponsesAPI.messageID(call), "output_index": s.open!.index,
                                                                             "content_index": 0, "part": ResponsesAPI.textPart("")]))
                        }
                        s.text += text
                        out.append(event("response.output_text.delta", ["item_id": ResponsesAPI.messageID(call), "output_index": s.open!.index,
                                                                        "content_index": 0, "delta": text, "logprobs": [Any]()]))
                    case .callStarted(let n, _, _):
                        close()
                        s.open = (s.next, n)
                        s.next += 1
                        out.append(event("response.output_item.added", ["output_index": s.open!.index,
                                                                        "item": ResponsesAPI.functionCallItem(s.tools.calls[n], done: false)]))
                    case .arguments(let n, let fragment):
                        let item = ResponsesAPI.functionCallItem(s.tools.calls[n], done: false)
                        out.append(event("response.function_call_arguments.delta", ["item_id": item["id"]!, "output_index": s.open?.index ?? 0,
                                                                                    "delta": fragment]))
                    }
                }
                if final { close() }
                return out
            }
        }
    }
}

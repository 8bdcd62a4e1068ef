import ChatTemplates
import Engine
import Foundation
import Kernels
import NIOCore

/// Tool use in Anthropic's Messages API: `tools` (`name`, `description`, `input_schema`), `tool_choice` (`auto`,
/// `any`, `tool`, `none`, `disable_parallel_tool_use`), `tool_use` and `tool_result` blocks in the conversation, and
/// `tool_use` blocks in the answer — streamed as `content_block_start` + `input_json_delta` events.
extension MessagesAPI {
    static func structured(_ fields: Fields) throws(APIError) -> StructuredOutput {
        guard fields.has("tools") || fields.has("tool_choice") else { return .none }
        let body = try fields.orderedBody()
        var tools: [Tool] = []
        if let list = body["tools"], list != .null {
            guard case .array(let items) = list else { throw .invalid("tools", "tools must be a list of {name, description, input_schema}") }
            for (index, item) in items.enumerated() {
                if let type = item["type"]?.stringValue, type != "custom" {
                    throw .invalid("tools[\(index)].type", "server tools (\(type)) are not supported; give client tools: {name, description, input_schema}")
                }
                guard case .string(let name)? = item["name"] else { throw .invalid("tools[\(index)].name", "tools[\(index)] needs a name") }
                tools.append(try Tool(name: name, description: item["description"]?.stringValue, parameters: item["input_schema"],
                                      field: "tools[\(index)].name"))
            }
        }
        var choice = ToolChoice.auto
        var parallel = true
        if let value = body["tool_choice"], value != .null {
            switch value["type"]?.stringValue {
            case "auto": choice = .auto
            case "any": choice = .required
            case "none": choice = .none
            case "tool":
                guard let name = value["name"]?.stringValue else { throw .invalid("tool_choice.name", "tool_choice of type tool needs a name") }
                choice = .function(name)
            default: throw .invalid("tool_choice", "tool_choice must be {\"type\": \"auto\" | \"any\" | \"tool\" | \"none\"}")
            }
            parallel = value["disable_parallel_tool_use"]?.boolValue.map { !$0 } ?? true
        }
        return try StructuredOutput(format: nil, formatField: nil, tools: tools, toolChoice: choice, parallelToolCalls: parallel)
    }

    /// One Messages turn as chat messages: text, `tool_use` blocks as the assistant's `tool_calls`, `tool_result`
    /// blocks as `tool` messages.
    static func chatMessages(role: String, content: Any?, index: Int) throws(APIError) -> [ChatMessage] {
        guard let blocks = content as? [Any] else {
            return [ChatMessage(role: role, content: .string(try ParsedRequest.text(of: content, field: "messages[\(index)].content",
                                                                                     textTypes: ["text"])))]
        }
        var out: [ChatMessage] = []
        var text = ""
        var calls: [JinjaValue] = []
        func flushText() {
            if !text.isEmpty || !calls.isEmpty {
                out.append(ChatMessage(role: role, content: .string(text), fields: calls.isEmpty ? [:] : ["tool_calls": .array(calls)]))
            }
            text = ""
            calls = []
        }
        for (n, block) in blocks.enumerated() {
            let field = "messages[\(index)].content[\(n)]"
            guard let block = block as? [String: Any], let type = block["type"] as? String else {
                throw .invalid(field, "\(field) must be an object with a type")
            }
            switch type {
            case "text":
                guard let piece = block["text"] as? String else { throw .invalid(field, "\(field) needs a text") }
                text += piece
            case "tool_use" where role == "assistant":
                guard let id = block["id"] as? String, let name = block["name"] as? String else {
                    throw .invalid(field, "\(field): a tool_use block needs an id and a name")
                }
                let input = (block["input"]).flatMap { try? JSONSerialization.data(withJSONObject: $0) }
                    .flatMap { try? JinjaValue(parsingJSON: String(decoding: $0, as: UTF8.self)) } ?? .dictionary([:])
                calls.append(StructuredOutput.templateToolCall(id: id, name: name, arguments: input))
            case "tool_result" where role == "user":
                flushText()
                guard let id = block["tool_use_id"] as? String else { throw .invalid(field, "\(field): a tool_result needs a tool_use_id") }
                let result = block["content"] == nil ? "" : try ParsedRequest.text(of: block["content"], field: "\(field).content", textTypes: ["text"])
                out.append(ChatMessage(role: "tool", content: .string((block["is_error"] as? Bool == true ? "Error: " : "") + result),
                                       fields: ["tool_call_id": .string(id)]))
            default:
                throw .invalid(field, "\(field) has type \(type); this server takes text blocks, and tool_use (assistant) and "
                               + "tool_result (user) blocks")
            }
        }
        flushText()
        return out
    }

    /// The content blocks of a finished answer: its text, then one `tool_use` block per call.
    static func contentBlocks(_ call: Call, _ result: GenerationResult) -> (blocks: [[String: Any]], madeCalls: Bool) {
        guard call.parsed.structured.parsesToolCalls else { return ([["type": "text", "text": result.text]], false) }
        let (text, calls) = ToolCallStream.split(result.text, toolNames: call.parsed.structured.toolNames)
        var blocks: [[String: Any]] = text.isEmpty && !calls.isEmpty ? [] : [["type": "text", "text": text]]
        for toolCall in calls {
            blocks.append(["type": "tool_use", "id": toolUseID(toolCall.id), "name": toolCall.name, "input": input(toolCall.arguments)])
        }
        return (blocks, !calls.isEmpty)
    }

    static func toolUseID(_ callID: String) -> String { "toolu_" + callID.dropFirst("call_".count) }

    static func input(_ arguments: String) -> Any {
        (try? JSONSerialization.jsonObject(with: Data(arguments.utf8))) ?? [String: Any]()
    }

    /// Streamed content blocks with tools: text blocks and `tool_use` blocks opened as the output reaches them.
    final class BlockStream: Sendable {
        private struct State {
            var tools: ToolCallStream
            var open: (index: Int, isText: Bool)?
            var next = 0
        }
        private let state: Locked<State>

        init(toolNames: Set<String>) {
            state = Locked(State(tools: ToolCallStream(toolNames: toolNames)))
        }

        /// The events for one update's text (`final`: the output ended).
        func events(_ text: String, final: Bool, _ call: Call) -> [ByteBuffer] {
            state.withLock { s in
                var out: [ByteBuffer] = []
                func close() {
                    if let open = s.open { out.append(call.namedEvent("content_block_stop", ["type": "content_block_stop", "index": open.index])) }
                    s.open = nil
                }
                func start(_ block: [String: Any], isText: Bool) {
                    close()
                    s.open = (s.next, isText)
                    out.append(call.namedEvent("content_block_start", ["type": "content_block_start", "index": s.next, "content_block": block]))
                    s.next += 1
                }
                for event in s.tools.feed(text) + (final ? s.tools.finish() : []) {
                    switch event {
                    case .content(let piece):
                        if s.open?.isText != true {
                            if piece.allSatisfy(\.isWhitespace) { continue }
                            start(["type": "text", "text": ""], isText: true)
                        }
                        out.append(call.namedEvent("content_block_delta", ["type": "content_block_delta", "index": s.open!.index,
                                                                           "delta": ["type": "text_delta", "text": piece]]))
                    case .callStarted(_, let id, let name):
                        start(["type": "tool_use", "id": MessagesAPI.toolUseID(id), "name": name, "input": [String: Any]()], isText: false)
                    case .arguments(_, let fragment):
                        out.append(call.namedEvent("content_block_delta", ["type": "content_block_delta", "index": s.open?.index ?? 0,
                                                                           "delta": ["type": "input_json_delta", "partial_json": fragment]]))
                    }
                }
                if final { close() }
                return out
            }
        }

        var madeCalls: Bool { state.withLock { !$0.tools.calls.isEmpty } }
    }
}

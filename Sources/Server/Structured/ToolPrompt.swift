import ChatTemplates
import Foundation

/// How a conversation with tools reaches the chat template.
///
/// Templates that render tools (Qwen2.5/Qwen3, Llama 3.1+, Hermes, …) get them as their `tools` variable, the
/// assistant's earlier calls as `tool_calls` (arguments parsed into objects, as Hugging Face passes them) and the
/// results as `tool` messages. For templates that do not (SmolLM2, Gemma 3), Brigade writes the tools into the system
/// message in the Hermes format that `ToolCallStream` parses, renders earlier calls as `<tool_call>` text and results
/// as `<tool_response>` user turns, so tools work with every model — and with `tool_choice` required or a named
/// function, the grammar makes the call well-formed whatever the model would have written.
extension StructuredOutput {
    func templateInput(_ messages: [ChatMessage], templateRendersTools: Bool) -> (messages: [ChatMessage], tools: [JinjaValue]) {
        let offered = toolChoice == .none ? [] : tools
        let definitions = offered.map { (try? JinjaValue(parsingJSON: $0.definition.text)) ?? .none }
        if templateRendersTools { return (messages, definitions) }
        var rewritten = messages.map(Self.plainToolTurn)
        guard !offered.isEmpty else { return (rewritten, []) }
        let prompt = Self.systemPrompt(offered.map(\.definition.text))
        if let first = rewritten.first, first.role == "system", case .string(let text) = first.content {
            rewritten[0].content = .string(text + "\n\n" + prompt)
        } else {
            rewritten.insert(ChatMessage(role: "system", content: .string(prompt)), at: 0)
        }
        return (rewritten, [])
    }

    /// The Hermes function-calling system prompt (as Qwen2.5's template writes it).
    static func systemPrompt(_ definitions: [String]) -> String {
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
            + definitions.joined(separator: "\n")
            + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
            + "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>"
    }

    /// One entry of an assistant message's `tool_calls` as chat templates read it (OpenAI's shape, arguments an object).
    static func templateToolCall(id: String, name: String, arguments: JinjaValue) -> JinjaValue {
        .dictionary(["id": .string(id), "type": "function", "function": .dictionary(["name": .string(name), "arguments": arguments])])
    }

    /// A turn with tool fields as plain text, for templates that know nothing of tools.
    static func plainToolTurn(_ message: ChatMessage) -> ChatMessage {
        if message.role == "tool" {
            let text: String
            if case .string(let content) = message.content { text = content } else { text = "" }
            return ChatMessage(role: "user", content: .string("<tool_response>\n\(text)\n</tool_response>"))
        }
        guard message.role == "assistant", case .array(let calls)? = message.fields["tool_calls"] else { return message }
        var text = ""
        if case .string(let content) = message.content { text = content }
        for call in calls {
            guard case .dictionary(let call) = call, case .dictionary(let function)? = call["function"],
                  case .string(let name)? = function["name"] else { continue }
            let arguments = function["arguments"]?.jsonText ?? "{}"
            text += (text.isEmpty ? "" : "\n") + "<tool_call>\n{\"name\": \"\(name)\", \"arguments\": \(arguments)}\n</tool_call>"
        }
        return ChatMessage(role: "assistant", content: .string(text))
    }
}

import Engine
import Foundation

/// Chat output with tools: the calls parsed out of the text, as a whole message or as OpenAI's streamed
/// `delta.tool_calls` chunks.
extension Call {
    /// The assistant message of a finished chat choice and its finish reason (`tool_calls` when it made calls).
    func assistantMessage(_ result: GenerationResult) -> (message: [String: Any], finishReason: String) {
        guard parsed.structured.parsesToolCalls else {
            return (["role": "assistant", "content": result.text], finishReasonText(result.finishReason, madeCalls: false))
        }
        // A call cut off by max_tokens is left out; the finish reason says "length".
        let (content, calls) = ToolCallStream.split(result.text, toolNames: parsed.structured.toolNames)
        var message: [String: Any] = ["role": "assistant", "content": content.isEmpty && !calls.isEmpty ? NSNull() : content]
        if !calls.isEmpty {
            message["tool_calls"] = calls.map { call -> [String: Any] in
                ["id": call.id, "type": "function", "function": ["name": call.name, "arguments": call.arguments]]
            }
        }
        return (message, finishReasonText(result.finishReason, madeCalls: !calls.isEmpty))
    }

    /// `tool_calls` for a choice that stopped after making calls, else the engine's reason.
    func finishReasonText(_ reason: FinishReason, madeCalls: Bool) -> String {
        madeCalls && reason == .stop ? "tool_calls" : reason.rawValue
    }

    /// The chunks of one streamed chat update: its text as content, and with tools, the calls' starts and argument
    /// fragments; the finish reason on the last.
    func chatChunks(_ output: RequestOutput, index: Int, logprobs: Any, tools: inout ToolCallStream?) -> [[String: Any]] {
        let reason = output.finishReason
        guard var stream = tools else {
            return [chunk(index, delta: output.textDelta.isEmpty ? [:] : ["content": output.textDelta], logprobs: logprobs,
                          finishReason: reason?.rawValue ?? NSNull())]
        }
        let events = stream.feed(output.textDelta) + (reason != nil ? stream.finish() : [])
        tools = stream
        var chunks: [[String: Any]] = events.map { event in
            switch event {
            case .content(let text):
                return chunk(index, delta: ["content": text])
            case .callStarted(let call, let id, let name):
                return chunk(index, delta: ["tool_calls": [["index": call, "id": id, "type": "function",
                                                            "function": ["name": name, "arguments": ""]]]])
            case .arguments(let call, let fragment):
                return chunk(index, delta: ["tool_calls": [["index": call, "function": ["arguments": fragment]]]])
            }
        }
        if let reason {
            chunks.append(chunk(index, finishReason: finishReasonText(reason, madeCalls: !stream.calls.isEmpty)))
        }
        if chunks.isEmpty { chunks.append(chunk(index)) }
        chunks[0] = withLogprobs(chunks[0], logprobs)
        return chunks
    }

    private func withLogprobs(_ chunk: [String: Any], _ logprobs: Any) -> [String: Any] {
        guard var choices = chunk["choices"] as? [[String: Any]], !choices.isEmpty else { return chunk }
        var copy = chunk
        choices[0]["logprobs"] = logprobs
        copy["choices"] = choices
        return copy
    }
}

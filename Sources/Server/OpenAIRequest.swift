import ChatTemplates
import Engine
import Foundation
import Grammar
import Model

/// Reads a JSON object's fields with OpenAI's rules, turning every type or range problem into an `APIError` that
/// names the field.
struct Fields {
    let object: [String: Any]
    /// The JSON text the fields came from (top level only), for fields whose key order matters (schemas).
    let body: Data?

    init(body: Data, limit: Int) throws(APIError) {
        guard body.count <= limit else {
            throw APIError(.contentTooLarge, "the request body is \(body.count) bytes; the limit is \(limit)")
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: body), let object = parsed as? [String: Any] else {
            throw APIError(.badRequest, "the request body is not a JSON object")
        }
        self.object = object
        self.body = body
    }

    /// JSON `true`/`false` arrive as NSNumbers too; their Objective-C type is `char`.
    static func isBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func number(_ key: String) throws(APIError) -> Double? {
        guard has(key) else { return nil }
        guard let number = object[key] as? NSNumber, !Self.isBoolean(number) else {
            throw .invalid(key, "\(key) must be a number")
        }
        return number.doubleValue
    }

    func integer(_ key: String) throws(APIError) -> Int? {
        guard let value = try number(key) else { return nil }
        guard value.rounded() == value, abs(value) < 1e15 else { throw .invalid(key, "\(key) must be an integer") }
        return Int(value)
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard has(key) else { return nil }
        guard let number = object[key] as? NSNumber, Self.isBoolean(number) else {
            throw .invalid(key, "\(key) must be true or false")
        }
        return number.boolValue
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard has(key) else { return nil }
        guard let text = object[key] as? String else { throw .invalid(key, "\(key) must be a string") }
        return text
    }

    /// A string or a list of strings (`stop`).
    func strings(_ key: String) throws(APIError) -> [String] {
        guard has(key) else { return [] }
        if let text = object[key] as? String { return [text] }
        guard let list = object[key] as? [Any], let texts = list as? [String] else {
            throw .invalid(key, "\(key) must be a string or a list of strings")
        }
        return texts
    }

    func integers(_ key: String) throws(APIError) -> [Int]? {
        guard has(key) else { return nil }
        guard let list = object[key] as? [Any], let numbers = list as? [NSNumber],
              numbers.allSatisfy({ !Self.isBoolean($0) && $0.doubleValue.rounded() == $0.doubleValue }) else {
            throw .invalid(key, "\(key) must be a list of integers")
        }
        return numbers.map(\.intValue)
    }
}

/// What a completion or chat request asks for, checked and in engine terms.
struct ParsedRequest: Sendable {
    enum Kind: Sendable { case chat, completion }

    var kind: Kind
    var model: String?
    var promptTokenIDs: [Int32]
    /// The prompt text, echoed back when `echo` is set (completions).
    var promptText: String
    var template: GenerationRequest
    var choices: Int
    var stream: Bool
    var includeUsage: Bool
    var echo: Bool
    /// Chat: `logprobs: true` with `top_logprobs`; completions: `logprobs: K`.
    var wantsLogprobs: Bool
    /// The output's required form (grammar) and the tools whose calls are parsed from it.
    var structured = StructuredOutput.none

    init(_ fields: Fields, kind: Kind, model served: ServedModel) throws(APIError) {
        self.kind = kind
        model = try Self.modelName(fields, served: served)
        switch kind {
        case .chat:
            structured = try Self.structuredOutput(fields)
            let input = structured.templateInput(try Self.messages(fields), templateRendersTools: served.templateRendersTools)
            promptText = try Self.render(input.messages, tools: input.tools, served: served)
            promptTokenIDs = served.encode(promptText)
        case .completion:
            structured = try Self.structuredOutput(fields)
            if !structured.tools.isEmpty { throw .invalid("tools", "tools are for /v1/chat/completions; completions take a plain prompt") }
            if let text = try? fields.string("prompt") {
                promptText = text
                promptTokenIDs = served.encode(text)
            } else if let ids = try? fields.integers("prompt") {
                promptTokenIDs = ids.map { Int32(clamping: $0) }
                promptText = ""
            } else {
                throw .invalid("prompt", "prompt must be a string or a list of token ids (one prompt per request)")
            }
        }
        var sampling = try Self.sampling(fields)
        if let value = try fields.number("min_p") { sampling.minP = Float(value) }
        if let value = try fields.number("presence_penalty") { sampling.presencePenalty = Float(value) }
        if let value = try fields.number("frequency_penalty") { sampling.frequencyPenalty = Float(value) }
        if let value = try fields.number("repetition_penalty") { sampling.repetitionPenalty = Float(value) }
        if let value = try fields.integer("seed") { sampling.seed = UInt64(bitPattern: Int64(value)) }
        switch kind {
        case .chat:
            wantsLogprobs = try fields.bool("logprobs") ?? false
            let top = try fields.integer("top_logprobs")
            if top != nil && !wantsLogprobs { throw .invalid("top_logprobs", "top_logprobs needs logprobs: true") }
            if wantsLogprobs { sampling.logprobs = top ?? 0 }
            echo = false
        case .completion:
            let count = try fields.integer("logprobs")
            wantsLogprobs = count != nil
            sampling.logprobs = count
            echo = try fields.bool("echo") ?? false
        }
        let maxCompletionTokens = try fields.integer("max_completion_tokens")
        let legacyMaxTokens = try fields.integer("max_tokens")
        let maxTokens = try Self.checkedMaxTokens(maxCompletionTokens ?? legacyMaxTokens,
                                                  field: maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens",
                                                  promptTokens: promptTokenIDs.count, served: served)
        choices = try fields.integer("n") ?? 1
        guard (1...16).contains(choices) else { throw .invalid("n", "n must be between 1 and 16, got \(choices)") }
        stream = try fields.bool("stream") ?? false
        if fields.has("stream_options") {
            guard let options = fields.object["stream_options"] as? [String: Any] else {
                throw .invalid("stream_options", "stream_options must be an object")
            }
            includeUsage = try Fields(object: options).bool("include_usage") ?? false
        } else {
            includeUsage = false
        }
        _ = try fields.string("user")
        let minTokens = try fields.integer("min_tokens") ?? 0
        template = GenerationRequest(id: "", promptTokenIDs: promptTokenIDs, sampling: sampling, maxTokens: maxTokens,
                                     minTokens: minTokens, stopTokenIDs: (try fields.integers("stop_token_ids") ?? []).map { Int32(clamping: $0) },
                                     stopStrings: try fields.strings("stop"), ignoreEOS: try fields.bool("ignore_eos") ?? false)
        template.grammar = structured.grammar
    }

    /// The output-form and tool fields, read from the body in order (a schema's property order is the output's).
    static func structuredOutput(_ fields: Fields) throws(APIError) -> StructuredOutput {
        let keys = StructuredOutput.grammarFields + ["tools", "tool_choice", "parallel_tool_calls"]
        guard keys.contains(where: fields.has) else { return .none }
        return try StructuredOutput(body: try fields.orderedBody())
    }

    /// The `model` field, which must name the served model when given.
    static func modelName(_ fields: Fields, served: ServedModel) throws(APIError) -> String? {
        let model = try fields.string("model")
        if let model, model != served.name {
            throw APIError(.notFound, "the model \(model) does not exist; this server serves \(served.name)",
                           param: "model", code: "model_not_found")
        }
        return model
    }

    /// `messages` rendered with the model's chat template.
    static func render(_ messages: [ChatMessage], tools: [JinjaValue] = [], served: ServedModel) throws(APIError) -> String {
        do {
            return try served.renderChat(messages, tools)
        } catch {
            throw .invalid("messages", "the model's chat template rejected the messages: \(error)")
        }
    }

    /// The sampling fields every chat API reads: `temperature`, `top_p`, `top_k` (-1 disables, as in vLLM).
    static func sampling(_ fields: Fields) throws(APIError) -> SamplingParameters {
        var sampling = SamplingParameters()
        if let value = try fields.number("temperature") { sampling.temperature = Float(value) }
        if let value = try fields.number("top_p") { sampling.topP = Float(value) }
        if let value = try fields.integer("top_k") { sampling.topK = max(0, value) }
        return sampling
    }

    /// The tokens to generate: `requested` (the value of `field`), or what the served context leaves after the prompt.
    static func checkedMaxTokens(_ requested: Int?, field: String, promptTokens: Int, served: ServedModel) throws(APIError) -> Int {
        let tokens = requested ?? max(1, served.contextLength - promptTokens)
        guard tokens >= 1 else { throw .invalid(field, "\(field) must be at least 1, got \(tokens)") }
        guard promptTokens + tokens <= served.contextLength else {
            throw .invalid(field, "the prompt (\(promptTokens) tokens) plus \(field) (\(tokens)) "
                           + "exceeds the served context of \(served.contextLength) tokens")
        }
        return tokens
    }

    static func messages(_ fields: Fields) throws(APIError) -> [ChatMessage] {
        guard let list = fields.object["messages"] as? [Any], !list.isEmpty else {
            throw .invalid("messages", "messages must be a non-empty list of {role, content} objects")
        }
        var messages: [ChatMessage] = []
        for (index, item) in list.enumerated() {
            guard let message = item as? [String: Any], let role = message["role"] as? String else {
                throw .invalid("messages[\(index)]", "messages[\(index)] must be an object with a string role")
            }
            let extra = try toolFields(message, index: index)
            switch message["content"] {
            case let text as String:
                messages.append(ChatMessage(role: role, content: .string(text), fields: extra))
            case let parts as [Any]:
                var text = ""
                for part in parts {
                    guard let part = part as? [String: Any], part["type"] as? String == "text", let piece = part["text"] as? String else {
                        throw .invalid("messages[\(index)].content", "only text content parts are supported")
                    }
                    text += piece
                }
                messages.append(ChatMessage(role: role, content: .string(text), fields: extra))
            case nil, is NSNull:
                messages.append(ChatMessage(role: role, content: .none, fields: extra))
            default:
                throw .invalid("messages[\(index)].content", "content must be a string or a list of text parts")
            }
        }
        return messages
    }
}

extension Fields {
    init(object: [String: Any]) {
        self.object = object
        body = nil
    }

    /// The body as an ordered JSON value, for fields whose key order matters (schemas, tool definitions).
    func orderedBody() throws(APIError) -> JSONValue {
        guard let body else { throw APIError(.badRequest, "the request body is missing") }
        do { return try JSONValue(parsing: String(decoding: body, as: UTF8.self)) } catch {
            throw APIError(.badRequest, "the request body is not valid JSON: \(error)")
        }
    }
}

extension ParsedRequest {
    /// A message's tool fields for the template: an assistant's `tool_calls` (arguments parsed into objects, as
    /// Hugging Face templates expect), a tool result's `tool_call_id`, and `name`.
    static func toolFields(_ message: [String: Any], index: Int) throws(APIError) -> JinjaDictionary {
        var fields = JinjaDictionary()
        if let calls = message["tool_calls"], !(calls is NSNull) {
            guard let list = calls as? [[String: Any]] else {
                throw .invalid("messages[\(index)].tool_calls", "tool_calls must be a list of {id, type, function: {name, arguments}}")
            }
            fields["tool_calls"] = .array(try list.enumerated().map { n, call throws(APIError) -> JinjaValue in
                guard let function = call["function"] as? [String: Any], let name = function["name"] as? String else {
                    throw .invalid("messages[\(index)].tool_calls[\(n)]", "a tool call needs function.name and function.arguments")
                }
                let text = function["arguments"] as? String ?? "{}"
                guard let arguments = try? JinjaValue(parsingJSON: text) else {
                    throw .invalid("messages[\(index)].tool_calls[\(n)].function.arguments", "the arguments are not JSON: \(text)")
                }
                return StructuredOutput.templateToolCall(id: call["id"] as? String ?? "call_\(n)", name: name, arguments: arguments)
            })
        }
        for key in ["tool_call_id", "name"] {
            if let value = message[key] as? String { fields[key] = .string(value) }
        }
        return fields
    }
}

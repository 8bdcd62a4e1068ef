import Foundation
import Grammar

/// What a chat request asks of the output's form: a grammar to enforce (from OpenAI's `response_format`, vLLM's
/// `guided_json` / `guided_regex` / `guided_choice` / `guided_grammar`, llama.cpp's `grammar` / `json_schema`, or the
/// tools when a call is required), and the tools whose calls are parsed out of the output.
struct StructuredOutput: Sendable {
    /// GBNF the output must follow (nil: free text).
    var grammar: String?
    /// The field the grammar came from, for messages.
    var grammarField: String?
    var tools: [Tool] = []
    var toolChoice = ToolChoice.auto
    var parallelToolCalls = true

    /// Whether tool calls are parsed out of the output.
    var parsesToolCalls: Bool { !tools.isEmpty && toolChoice != .none }
    /// The names a call may have.
    var toolNames: Set<String> { parsesToolCalls ? Set(tools.map(\.name)) : [] }

    static let none = StructuredOutput()

    /// The constraint fields that may be given (at most one of them).
    static let grammarFields = ["response_format", "guided_json", "guided_regex", "guided_choice", "guided_grammar", "grammar", "json_schema"]

    /// Reads the fields from the request body (in order, so that a schema's properties keep their order).
    init(body: JSONValue) throws(APIError) {
        let given = Self.grammarFields.filter { body[$0].map { $0 != .null } ?? false }
        if given.count > 1 {
            throw .invalid(given[1], "give only one of \(given.joined(separator: ", ")): each sets the output's form")
        }
        var format: String?
        if let field = given.first, let value = body[field] {
            let gbnf = try Self.grammar(field: field, value)
            format = gbnf.isEmpty ? nil : gbnf  // response_format text: free text
        }
        var tools: [Tool] = []
        if let list = body["tools"], list != .null {
            guard case .array(let items) = list else { throw .invalid("tools", "tools must be a list of {type: function, function: {…}} objects") }
            tools = try items.enumerated().map { index, item throws(APIError) in try Tool(openAI: item, field: "tools[\(index)]") }
        }
        var parallel = true
        if let value = body["parallel_tool_calls"], value != .null {
            guard case .bool(let flag) = value else { throw .invalid("parallel_tool_calls", "parallel_tool_calls must be true or false") }
            parallel = flag
        }
        try self.init(format: format, formatField: format == nil ? nil : given.first, tools: tools,
                      toolChoice: try ToolChoice(openAI: body["tool_choice"], tools: tools), parallelToolCalls: parallel)
    }

    /// An output format (GBNF) and tools, as every API gives them.
    init(format: String?, formatField: String?, tools: [Tool], toolChoice: ToolChoice, parallelToolCalls: Bool) throws(APIError) {
        let names = tools.map(\.name)
        if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw .invalid("tools", "two tools are named \(duplicate)")
        }
        if toolChoice != .none && toolChoice != .auto && tools.isEmpty {
            throw .invalid("tool_choice", "tool_choice requires a tool call but the request has no tools")
        }
        if case .function(let name) = toolChoice, !names.contains(name) {
            throw .invalid("tool_choice", "tool_choice names the function \(name), which is not among the tools")
        }
        grammar = format
        grammarField = formatField
        self.tools = tools
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
        if let calls = try toolCallGrammar() {
            grammarField = grammarField.map { "\($0) and tool_choice" } ?? "tool_choice"
            grammar = calls
        }
    }

    init() {}

    // MARK: Grammars of the output-format fields

    /// `build`'s grammar, or a 400 naming `param` and where in it the problem is.
    static func compile(_ param: String, _ build: () throws(GrammarError) -> String) throws(APIError) -> String {
        do { return try build() } catch { throw .invalid(param, error) }
    }

    /// The grammar of a JSON schema given as JSON text; errors name `param`.
    static func schemaGrammar(_ schema: String, param: String) throws(APIError) -> String {
        try compile(param) { () throws(GrammarError) in try JSONSchemaGrammar.gbnf(schema: schema) }
    }

    private static func grammar(field: String, _ value: JSONValue) throws(APIError) -> String {
        switch field {
        case "response_format":
            guard case .object = value, case .string(let type)? = value["type"] else {
                throw .invalid(field, "response_format must be an object with a type: text, json_object or json_schema")
            }
            switch type {
            case "text": return ""
            case "json_object": return JSONSchemaGrammar.anyObject
            case "json_schema":
                guard let wrapper = value["json_schema"], case .object = wrapper else {
                    throw .invalid("response_format.json_schema", "response_format.json_schema must be an object with a schema")
                }
                guard let schema = wrapper["schema"] else { return JSONSchemaGrammar.anyObject }
                return try schemaGrammar(schema.text, param: "response_format.json_schema.schema")
            default:
                throw .invalid("response_format.type", "response_format.type must be text, json_object or json_schema, got \(type)")
            }
        case "guided_json", "json_schema":
            // vLLM takes the schema as an object or as JSON text.
            let text: String
            if case .string(let s) = value { text = s } else { text = value.text }
            return try schemaGrammar(text, param: field)
        case "guided_regex":
            guard case .string(let pattern) = value else { throw .invalid(field, "guided_regex must be a string") }
            return try compile(field) { () throws(GrammarError) in try RegexGrammar.gbnf(pattern: pattern) }
        case "guided_choice":
            guard case .array(let items) = value, !items.isEmpty else { throw .invalid(field, "guided_choice must be a non-empty list of strings") }
            var choices: [String] = []
            for item in items {
                guard case .string(let choice) = item, !choice.isEmpty else { throw .invalid(field, "guided_choice must list non-empty strings") }
                choices.append(GBNFText.literal(choice))
            }
            return "root ::= " + choices.joined(separator: " | ")
        default:  // grammar, guided_grammar: GBNF
            guard case .string(let gbnf) = value else { throw .invalid(field, "\(field) must be a string of GBNF") }
            return try compile(field) { () throws(GrammarError) in _ = try GrammarCache.shared.grammar(gbnf); return gbnf }
        }
    }

    // MARK: Tool calls

    /// With `tool_choice` required or a named function, the output is one or more calls (one unless parallel calls
    /// are allowed) whose arguments follow each function's parameter schema, so they always parse. With `auto` and an
    /// output format, the output is either calls or that format.
    private func toolCallGrammar() throws(APIError) -> String? {
        let offered: [Tool]
        switch toolChoice {
        case .none: return nil
        case .auto:
            guard let format = grammar, !format.isEmpty, !tools.isEmpty else { return nil }
            offered = tools
            let calls = try Self.calls(offered, parallel: parallelToolCalls)
            return "root ::= calls | format-root\n" + calls + "\n" + GBNFText.prefixingRules(format, with: "format-")
        case .required: offered = tools
        case .function(let name): offered = tools.filter { $0.name == name }
        }
        return "root ::= calls\n" + (try Self.calls(offered, parallel: parallelToolCalls))
    }

    /// Rules `calls` (Hermes-style `<tool_call>` blocks) and the arguments rule of each tool.
    private static func calls(_ tools: [Tool], parallel: Bool) throws(APIError) -> String {
        var alternatives: [String] = []
        var rules: [String] = []
        for (index, tool) in tools.enumerated() {
            let arguments = try schemaGrammar(tool.parameters.text, param: "tools[\(index)].function.parameters")
            alternatives.append(GBNFText.literal("\"\(tool.name)\", \"arguments\": ") + " tool\(index)-root")
            rules.append(GBNFText.prefixingRules(arguments, with: "tool\(index)-"))
        }
        let call = "call ::= " + GBNFText.literal("<tool_call>\n{\"name\": ") + " ( " + alternatives.joined(separator: " | ") + " ) "
            + GBNFText.literal("}\n</tool_call>")
        let calls = parallel ? "calls ::= call ( \"\\n\" call )*" : "calls ::= call"
        return ([calls, call] + rules).joined(separator: "\n")
    }
}

/// A function the model may call.
struct Tool: Sendable {
    var name: String
    /// The parameters' JSON schema (an empty object schema when not given).
    var parameters: JSONValue
    /// The tool as OpenAI's function object, for the chat template.
    var definition: JSONValue

    init(name: String, description: String?, parameters: JSONValue?, field: String) throws(APIError) {
        guard !name.isEmpty,
              name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" || $0 == "." }) else {
            throw .invalid(field, "\(field) must be a non-empty name of letters, digits, _, - and .")
        }
        self.name = name
        self.parameters = parameters ?? .object([(key: "type", value: .string("object"))])
        var function: [(key: String, value: JSONValue)] = [(key: "name", value: .string(name))]
        if let description { function.append((key: "description", value: .string(description))) }
        function.append((key: "parameters", value: self.parameters))
        definition = .object([(key: "type", value: .string("function")), (key: "function", value: .object(function))])
    }

    /// `{"type": "function", "function": {"name", "description", "parameters"}}` (Chat Completions).
    init(openAI value: JSONValue, field: String) throws(APIError) {
        guard case .object = value, value["type"] == .string("function"), let function = value["function"], case .object = function,
              case .string(let name)? = function["name"] else {
            throw .invalid(field, "\(field) must be {\"type\": \"function\", \"function\": {\"name\": …, \"parameters\": {…}}}")
        }
        try self.init(name: name, description: function["description"]?.stringValue, parameters: function["parameters"],
                      field: "\(field).function.name")
    }
}

/// Whether, and which, tools the model must call.
enum ToolChoice: Sendable, Equatable {
    case none, auto, required
    case function(String)

    /// As the Responses API echoes it.
    var responsesValue: Any {
        switch self {
        case .none: return "none"
        case .auto: return "auto"
        case .required: return "required"
        case .function(let name): return ["type": "function", "name": name]
        }
    }

    /// Chat Completions' `tool_choice`: `none`, `auto`, `required` or `{"type": "function", "function": {"name"}}`.
    init(openAI value: JSONValue?, tools: [Tool]) throws(APIError) {
        switch value {
        case nil, .null?: self = .auto
        case .string("none")?: self = .none
        case .string("auto")?: self = .auto
        case .string("required")?: self = .required
        case let object? where object["function"]?["name"]?.stringValue != nil:
            self = .function(object["function"]!["name"]!.stringValue!)
        default:
            throw .invalid("tool_choice", "tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": …}}")
        }
    }
}

extension APIError {
    /// A 400 for a grammar, schema or pattern that does not compile: the field, what is wrong and where in it.
    static func invalid(_ param: String, _ error: GrammarError) -> APIError {
        .invalid(param, "\(param): \(error.message)" + (error.location.isEmpty ? "" : " (at \(error.location))"))
    }
}

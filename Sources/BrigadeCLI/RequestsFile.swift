import ChatTemplates
import Engine
import Foundation
import Grammar
import Model

/// One line of a `--requests` JSONL file: a prompt or a conversation, plus any sampling field of the CLI.
struct RequestLine {
    enum Input {
        case prompt(String)
        /// A prompt given as token ids (`"prompt": [1, 2, 3]`, as OpenAI's completions API takes it).
        case tokens([Int32])
        case messages([ChatMessage])
    }

    var input: Input
    var sampling: SamplingParameters
    var maxTokens: Int
    var minTokens: Int
    var stop: [String]
    var stopTokenIDs: [Int32]
    var ignoreEOS: Bool
    /// GBNF the output must follow (from "grammar", or "json_schema" compiled).
    var grammar: String? = nil
}

extension RequestLine {
    static let fields: Set<String> = [
        "prompt", "messages", "max_tokens", "temperature", "top_k", "top_p", "min_p", "seed", "stop", "logprobs",
        "presence_penalty", "frequency_penalty", "repetition_penalty", "ignore_eos", "min_tokens", "stop_token_ids",
        "grammar", "json_schema",
    ]

    /// Parses line `number` of `file`, starting from the command line's defaults.
    init(json line: String, number: Int, file: String, defaults: SamplingOptions) throws {
        func fail(_ message: String) -> CLIError { CLIError("\(file):\(number): \(message)") }
        guard let object = try? JSONDecoder().decode([String: JSONField].self, from: Data(line.utf8)) else {
            throw fail("not a JSON object (each line must be {\"prompt\": …} or {\"messages\": […]} plus sampling fields)")
        }
        if let unknown = object.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw fail("unknown field \"\(unknown)\"; known fields: \(Self.fields.sorted().joined(separator: ", "))")
        }
        func decimal<T: BinaryFloatingPoint>(_ key: String, _ fallback: T) throws -> T {
            guard let value = object[key] else { return fallback }
            guard case .number(let n) = value else { throw fail("\"\(key)\" must be a number") }
            return T(n)
        }
        func integer(_ key: String, _ fallback: Int) throws -> Int {
            guard let value = object[key] else { return fallback }
            guard case .number(let n) = value, n == n.rounded(), abs(n) < 1e15 else { throw fail("\"\(key)\" must be an integer") }
            return Int(n)
        }
        func strings(_ value: JSONField) -> [String]? {
            guard case .array(let items) = value else { return nil }
            let texts = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
            return texts.count == items.count ? texts : nil
        }
        switch (object["prompt"], object["messages"]) {
        case (.string(let prompt)?, nil):
            input = .prompt(prompt)
        case (.array(let items)?, nil) where !items.isEmpty:
            input = .tokens(try items.map { item in
                guard case .number(let n) = item, n == n.rounded(), n >= 0, n <= Double(Int32.max) else {
                    throw fail("\"prompt\" must be a string or a non-empty list of token ids (integers ≥ 0)")
                }
                return Int32(n)
            })
        case (nil, .array(let messages)?):
            input = .messages(try messages.enumerated().map { index, message in
                guard case .object(let fields) = message, case .string(let role)? = fields["role"],
                      case .string(let content)? = fields["content"] else {
                    throw fail("messages[\(index)] needs string \"role\" and \"content\"")
                }
                return ChatMessage(role: role, content: .string(content))
            })
        default:
            throw fail("exactly one of \"prompt\" (a string or a list of token ids) or \"messages\" (a list of {role, content}) is required")
        }
        var sampling = defaults.parameters
        sampling.temperature = try decimal("temperature", sampling.temperature)
        sampling.topK = try integer("top_k", sampling.topK)
        sampling.topP = try decimal("top_p", sampling.topP)
        sampling.minP = try decimal("min_p", sampling.minP)
        sampling.presencePenalty = try decimal("presence_penalty", sampling.presencePenalty)
        sampling.frequencyPenalty = try decimal("frequency_penalty", sampling.frequencyPenalty)
        sampling.repetitionPenalty = try decimal("repetition_penalty", sampling.repetitionPenalty)
        if object["seed"] != nil { sampling.seed = UInt64(clamping: try integer("seed", 0)) }
        if object["logprobs"] != nil { sampling.logprobs = try integer("logprobs", 0) }
        do { try sampling.validate() } catch { throw fail(error.message) }
        self.sampling = sampling
        maxTokens = try integer("max_tokens", defaults.maxTokens)
        minTokens = try integer("min_tokens", defaults.minTokens)
        guard maxTokens >= 1 else { throw fail("\"max_tokens\" must be at least 1") }
        switch object["stop"] {
        case nil: stop = defaults.stop
        case .string(let s)?: stop = [s]
        case let value?:
            guard let list = strings(value) else { throw fail("\"stop\" must be a string or a list of strings") }
            stop = list
        }
        switch object["stop_token_ids"] {
        case nil: stopTokenIDs = []
        case .array(let items)?:
            stopTokenIDs = try items.map { item in
                guard case .number(let n) = item, n == n.rounded(), n >= 0, n < 1e9 else {
                    throw fail("\"stop_token_ids\" must be a list of non-negative integers")
                }
                return Int32(n)
            }
        default: throw fail("\"stop_token_ids\" must be a list of integers")
        }
        switch object["ignore_eos"] {
        case nil: ignoreEOS = defaults.ignoreEos
        case .bool(let b)?: ignoreEOS = b
        default: throw fail("\"ignore_eos\" must be true or false")
        }
        switch (object["grammar"], object["json_schema"]) {
        case (nil, nil): break
        case (.string(let gbnf)?, nil): grammar = gbnf
        case (nil, .some):
            // Read again in order: the schema's property order is the output's.
            do {
                let schema = try JSONValue(parsing: line)["json_schema"]!
                grammar = try JSONSchemaGrammar.gbnf(schema: schema.text)
            } catch {
                throw fail("\"json_schema\": \(error)")
            }
        case (.some, .some): throw fail("give \"grammar\" or \"json_schema\", not both")
        default: throw fail("\"grammar\" must be a string of GBNF")
        }
    }

    /// Reads every non-empty line of `path`.
    static func read(_ path: String, defaults: SamplingOptions) throws -> [RequestLine] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read requests file \(path)") }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(path) is not UTF-8 text") }
        var lines: [RequestLine] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            lines.append(try RequestLine(json: String(line), number: index + 1, file: path, defaults: defaults))
        }
        guard !lines.isEmpty else { throw CLIError("\(path) holds no requests (one JSON object per line)") }
        return lines
    }
}

/// Any JSON value, decoded strictly (a number is never a boolean and vice versa).
enum JSONField: Decodable {
    case null, bool(Bool), number(Double), string(String), array([JSONField]), object([String: JSONField])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let n = try? container.decode(Double.self) { self = .number(n) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else if let a = try? container.decode([JSONField].self) { self = .array(a) }
        else { self = .object(try container.decode([String: JSONField].self)) }
    }
}

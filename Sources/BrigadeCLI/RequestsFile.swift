import ChatTemplates
import Engine
import Foundation
import Model

/// One line of a `--requests` JSONL file: a prompt or a conversation, plus any sampling field of the CLI.
struct RequestLine {
    enum Input {
        case prompt(String)
        case messages([ChatMessage])
    }

    var input: Input
    var sampling: SamplingParameters
    var maxTokens: Int
    var minTokens: Int
    var stop: [String]
    var stopTokenIDs: [Int32]
    var ignoreEOS: Bool

}

extension RequestLine {
    static let fields: Set<String> = [
        "prompt", "messages", "max_tokens", "temperature", "top_k", "top_p", "min_p", "seed", "stop", "logprobs",
        "presence_penalty", "frequency_penalty", "repetition_penalty", "ignore_eos", "min_tokens", "stop_token_ids",
    ]

    /// Parses line `number` of `file`, starting from the command line's defaults.
    init(json line: String, number: Int, file: String, defaults: SamplingOptions) throws {
        func fail(_ message: String) -> CLIError { CLIError("\(file):\(number): \(message)") }
        guard let data = line.data(using: .utf8), let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("not a JSON object (each line must be {\"prompt\": …} or {\"messages\": […]} plus sampling fields)")
        }
        if let unknown = object.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw fail("unknown field \"\(unknown)\"; known fields: \(Self.fields.sorted().joined(separator: ", "))")
        }
        func decimal<T: BinaryFloatingPoint>(_ key: String, _ fallback: T) throws -> T {
            guard let value = object[key] else { return fallback }
            guard let n = value as? NSNumber, !(value is Bool) else { throw fail("\"\(key)\" must be a number") }
            return T(n.doubleValue)
        }
        func integer(_ key: String, _ fallback: Int) throws -> Int {
            guard let value = object[key] else { return fallback }
            guard let n = value as? NSNumber, !(value is Bool), n.doubleValue == n.doubleValue.rounded() else {
                throw fail("\"\(key)\" must be an integer")
            }
            return n.intValue
        }
        switch (object["prompt"], object["messages"]) {
        case (let prompt as String, nil):
            input = .prompt(prompt)
        case (nil, let messages as [[String: Any]]):
            input = .messages(try messages.enumerated().map { index, message in
                guard let role = message["role"] as? String, let content = message["content"] as? String else {
                    throw fail("messages[\(index)] needs string \"role\" and \"content\"")
                }
                return ChatMessage(role: role, content: .string(content))
            })
        default:
            throw fail("exactly one of \"prompt\" (a string) or \"messages\" (a list of {role, content}) is required")
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
        case let s as String: stop = [s]
        case let list as [String]: stop = list
        default: throw fail("\"stop\" must be a string or a list of strings")
        }
        switch object["stop_token_ids"] {
        case nil: stopTokenIDs = []
        case let ids as [Int]: stopTokenIDs = ids.map { Int32(clamping: $0) }
        default: throw fail("\"stop_token_ids\" must be a list of integers")
        }
        switch object["ignore_eos"] {
        case nil: ignoreEOS = defaults.ignoreEos
        case let b as Bool: ignoreEOS = b
        default: throw fail("\"ignore_eos\" must be true or false")
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

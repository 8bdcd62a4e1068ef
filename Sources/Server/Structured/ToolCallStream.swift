import Foundation

/// A function call the model made, as the API returns it.
public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The arguments as JSON text, exactly as the model wrote them.
    public var arguments: String
    /// Whether the arguments are all there (a call cut by max_tokens is not).
    public var isComplete = true

    static func newID() -> String {
        "call_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    }
}

/// Splits model output into text and tool calls as the text streams in: Hermes-style blocks —
/// `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, the format of the Qwen2.5/Qwen3, Hermes and SmolLM3
/// templates, and of the system prompt Brigade writes for templates without tools — and the bare JSON object Llama
/// 3.1+ templates ask for (`{"name": …, "parameters": {…}}` as the whole answer, for one of the offered tools).
///
/// The name is reported as soon as `{"name": "…", "arguments": ` has arrived, and the arguments in fragments as they
/// are generated, so a client sees OpenAI's `delta.tool_calls` shape (index, id, name once, argument fragments).
/// Text that may still become `<tool_call>` is held back until it cannot. Streamed and whole output go through the
/// same machine, so both give the same calls.
public struct ToolCallStream: Sendable {
    public enum Event: Equatable, Sendable {
        case content(String)
        case callStarted(index: Int, id: String, name: String)
        case arguments(index: Int, String)
    }

    static let open = "<tool_call>", close = "</tool_call>"

    private enum Mode {
        /// Nothing but whitespace yet: a `{` may open a bare JSON call.
        case start
        /// A bare JSON answer, held until the output ends (it is a call only if it is one whole object naming a tool).
        case bareJSON
        case text
        /// Inside a call: the text after `<tool_call>` so far, the call's name once known, and how far into
        /// `body` the arguments have been reported.
        case call(body: String, started: Bool, argumentsStart: String.Index?, scanner: JSONValueScanner)
    }

    private var mode: Mode
    private var pending = ""
    /// The offered tools' names: a bare JSON answer naming one of them is a call (none: only `<tool_call>` blocks).
    public let toolNames: Set<String>

    public init(toolNames: Set<String> = []) {
        self.toolNames = toolNames
        mode = toolNames.isEmpty ? .text : .start
    }
    /// Calls begun so far (the last may still be incomplete).
    public private(set) var calls: [ToolCall] = []
    /// The calls whose arguments are complete.
    public var completeCalls: [ToolCall] { calls.filter(\.isComplete) }

    public mutating func feed(_ text: String) -> [Event] {
        pending += text
        var events: [Event] = []
        while true {
            switch mode {
            case .start:
                guard let first = pending.first(where: { !$0.isWhitespace }) else { return events }
                mode = first == "{" ? .bareJSON : .text
                continue
            case .bareJSON:
                return events
            case .text:
                if let range = pending.range(of: Self.open) {
                    if range.lowerBound > pending.startIndex { events.append(.content(String(pending[..<range.lowerBound]))) }
                    pending = String(pending[range.upperBound...])
                    mode = .call(body: "", started: false, argumentsStart: nil, scanner: JSONValueScanner())
                    continue
                }
                let keep = Self.heldBack(pending, couldStart: Self.open)
                let cut = pending.index(pending.endIndex, offsetBy: -keep)
                if cut > pending.startIndex { events.append(.content(String(pending[..<cut]))) }
                pending = String(pending[cut...])
                return events
            case .call(var body, var started, var argumentsStart, var scanner):
                let closing = pending.range(of: Self.close)
                let available = closing.map { String(pending[..<$0.lowerBound]) } ?? pending
                // Text that could be the start of the closing tag stays in `pending` until it is decided.
                let keep = closing == nil ? Self.heldBack(available, couldStart: Self.close) : 0
                let consumed = String(available.dropLast(keep))
                body += consumed
                pending = closing.map { String(pending[$0.upperBound...]) } ?? String(available.suffix(keep))
                if !started, let (name, start) = Self.nameAndArgumentsStart(body) {
                    started = true
                    argumentsStart = start
                    calls.append(ToolCall(id: ToolCall.newID(), name: name, arguments: "", isComplete: false))
                    events.append(.callStarted(index: calls.count - 1, id: calls[calls.count - 1].id, name: name))
                }
                if started, let start = argumentsStart, !scanner.isComplete {
                    let fragment = scanner.scan(body[start...])
                    if !fragment.isEmpty {
                        calls[calls.count - 1].arguments += fragment
                        events.append(.arguments(index: calls.count - 1, fragment))
                    }
                    calls[calls.count - 1].isComplete = scanner.isComplete
                }
                if closing != nil {
                    events += finishCall(body: body, started: started)
                    mode = .text
                    continue
                }
                mode = .call(body: body, started: started, argumentsStart: argumentsStart, scanner: scanner)
                return events
            }
        }
    }

    /// Ends the output: held-back text is content; a call left open (the model stopped before `</tool_call>`) counts
    /// if it parses.
    public mutating func finish() -> [Event] {
        var events = feed("")
        switch mode {
        case .bareJSON:
            if let call = Self.bareCall(pending, among: toolNames) {
                calls.append(call)
                events += [.callStarted(index: calls.count - 1, id: call.id, name: call.name), .arguments(index: calls.count - 1, call.arguments)]
            } else {
                events.append(.content(pending))
            }
        case .start, .text:
            if !pending.isEmpty { events.append(.content(pending)) }
        case .call(let body, let started, _, _):
            events += finishCall(body: body + pending, started: started)
        }
        pending = ""
        mode = .text
        return events
    }

    /// Completes a call whose body is known: one that never showed `{"name": …, "arguments": ` in that order is
    /// parsed whole now; one that does not parse at all is returned as text.
    private mutating func finishCall(body: String, started: Bool) -> [Event] {
        if started { return [] }
        guard let data = body.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let name = object["name"] as? String else {
            return [.content(Self.open + body)]
        }
        let arguments = object["arguments"] ?? object["parameters"] ?? [String: Any]()
        let text: String
        if let string = arguments as? String {
            text = string
        } else {
            text = (try? JSONSerialization.data(withJSONObject: arguments, options: [.sortedKeys, .withoutEscapingSlashes]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
        calls.append(ToolCall(id: ToolCall.newID(), name: name, arguments: text))
        return [.callStarted(index: calls.count - 1, id: calls[calls.count - 1].id, name: name),
                .arguments(index: calls.count - 1, text)]
    }

    /// A finished output split into its text (outside the calls, trimmed) and its complete calls; a call cut off by
    /// max_tokens is left out (its arguments would not parse).
    public static func split(_ output: String, toolNames: Set<String>) -> (text: String, calls: [ToolCall]) {
        var stream = ToolCallStream(toolNames: toolNames)
        let text = (stream.feed(output) + stream.finish()).compactMap { if case .content(let t) = $0 { t } else { nil } }
            .joined().trimmingCharacters(in: .whitespacesAndNewlines)
        return (text, stream.completeCalls)
    }

    /// `{"name": <a tool>, "parameters" | "arguments": {…}}` as the whole of `text`, as a call.
    static func bareCall(_ text: String, among tools: Set<String>) -> ToolCall? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let name = object["name"] as? String, tools.contains(name),
              let arguments = object["parameters"] ?? object["arguments"], arguments is [String: Any],
              let data = try? JSONSerialization.data(withJSONObject: arguments, options: [.withoutEscapingSlashes]) else { return nil }
        return ToolCall(id: ToolCall.newID(), name: name, arguments: String(decoding: data, as: UTF8.self))
    }

    /// The length of the longest suffix of `text` that is a proper prefix of `tag`.
    static func heldBack(_ text: String, couldStart tag: String) -> Int {
        for length in stride(from: min(text.count, tag.count - 1), to: 0, by: -1) where tag.hasPrefix(text.suffix(length)) {
            return length
        }
        return 0
    }

    /// `{"name": "<name>", "arguments": ` at the start of `body` (any whitespace): the name, and where the
    /// arguments' value starts.
    static func nameAndArgumentsStart(_ body: String) -> (String, String.Index)? {
        var scanner = Substring(body)
        func skipSpace() { scanner = scanner.drop { $0.isWhitespace } }
        func expect(_ text: String) -> Bool {
            skipSpace()
            guard scanner.hasPrefix(text) else { return false }
            scanner = scanner.dropFirst(text.count)
            return true
        }
        guard expect("{"), expect("\"name\""), expect(":"), expect("\"") else { return nil }
        var name = ""
        var escaped = false
        while let c = scanner.first {
            scanner = scanner.dropFirst()
            if escaped { name.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { break } else { name.append(c) }
            if scanner.isEmpty { return nil }
        }
        guard expect(","), expect("\"arguments\""), expect(":") else { return nil }
        skipSpace()
        guard !scanner.isEmpty else { return nil }
        return (name, scanner.startIndex)
    }
}

/// Follows one JSON value through text that arrives in pieces, reporting the characters that belong to it: it ends
/// where the value's outermost object, array or string closes (or, for a bare number or literal, at the first
/// character that cannot continue it).
struct JSONValueScanner: Equatable, Sendable {
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var began = false
    private var scalar = false
    /// Characters of the text scanned so far.
    private var offset = 0
    private(set) var isComplete = false

    /// Scans `text` (everything from the value's start, as far as it has arrived) and returns the part not returned
    /// before that belongs to the value.
    mutating func scan(_ text: Substring) -> String {
        var out = ""
        var index = text.index(text.startIndex, offsetBy: offset, limitedBy: text.endIndex) ?? text.endIndex
        while index < text.endIndex, !isComplete {
            let c = text[index]
            if !began {
                began = true
                switch c {
                case "{", "[": depth = 1
                case "\"": inString = true
                default: scalar = true
                }
                out.append(c)
            } else if scalar {
                if c.isWhitespace || c == "," || c == "}" { isComplete = true; break }
                out.append(c)
            } else if inString {
                out.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" {
                    inString = false
                    if depth == 0 { isComplete = true }
                }
            } else {
                out.append(c)
                switch c {
                case "\"": inString = true
                case "{", "[": depth += 1
                case "}", "]":
                    depth -= 1
                    if depth == 0 { isComplete = true }
                default: break
                }
            }
            index = text.index(after: index)
            offset += 1
        }
        return out
    }
}

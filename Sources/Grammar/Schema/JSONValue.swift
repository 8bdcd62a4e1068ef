/// A JSON value that keeps what `JSONSerialization` loses: the order of object members and the text of numbers.
///
/// Object members are an ordered list, so a schema's `properties` keep the order they were written in; numbers are
/// their original text (`1.0` stays `1.0`, `1e400` is not rounded). Two values are equal when they are written the same
/// way: same member order, same number text.
public enum JSONValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// The number as written in the JSON text (RFC 8259 number syntax).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order. A parsed object never has two members with the same key.
    case object([(key: String, value: JSONValue)])

    /// Parses one JSON text (RFC 8259, strict: no comments, trailing commas, `NaN`, leading zeros, unescaped control
    /// characters, lone surrogates or duplicate keys).
    ///
    /// - Parameter maxDepth: How deeply arrays and objects may nest; deeper input is refused rather than parsed.
    /// - Throws: `GrammarError` located at `line L, column C` (columns count Unicode scalars, both start at 1).
    public init(parsing text: String, maxDepth: Int = 512) throws(GrammarError) {
        var parser = JSONValueParser(text: text, maxDepth: maxDepth)
        self = try parser.parseDocument()
    }

    /// The compact serialization: no whitespace, members in order, numbers as written, strings escaped minimally
    /// (`\"`, `\\`, `\b \f \n \r \t`, `\u00XX` for other control characters and DEL; everything else as is).
    public var text: String {
        var output = ""
        write(to: &output)
        return output
    }

    public var description: String { text }

    /// The value of the first member named `key` when this is an object, else `nil`.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The members when this is an object.
    public var objectValue: [(key: String, value: JSONValue)]? {
        if case .object(let members) = self { members } else { nil }
    }

    /// The elements when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    /// The string when this is a string.
    public var stringValue: String? {
        if case .string(let string) = self { string } else { nil }
    }

    /// The Boolean when this is `true` or `false`.
    public var boolValue: Bool? {
        if case .bool(let bool) = self { bool } else { nil }
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    private func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let bool): output += bool ? "true" : "false"
        case .number(let text): output += text
        case .string(let string): Self.writeString(string, to: &output)
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                element.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { output += "," }
                Self.writeString(member.key, to: &output)
                output += ":"
                member.value.write(to: &output)
            }
            output += "}"
        }
    }

    /// Appends `string` as a JSON string literal, quotes included.
    static func writeString(_ string: String, to output: inout String) {
        output += "\""
        for scalar in string.unicodeScalars {
            output += escaped(scalar)
        }
        output += "\""
    }

    /// How `scalar` is written inside a JSON string literal by `text`.
    static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar.value {
        case 0x22: return "\\\""
        case 0x5C: return "\\\\"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x00...0x1F, 0x7F:
            let hex = String(scalar.value, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: return String(Character(scalar))
        }
    }
}

/// A strict, iterative (no recursion, so no stack overflow on deep input) JSON parser over UTF-8 bytes.
private struct JSONValueParser {
    private let bytes: [UInt8]
    private let maxDepth: Int
    private var index = 0

    /// An array or object being filled in (mutated in place, so appending never copies).
    private struct Frame {
        var isObject: Bool
        var elements: [JSONValue] = []
        var members: [(key: String, value: JSONValue)] = []
        var keys: Set<String> = []
        var pendingKey = ""
    }

    init(text: String, maxDepth: Int) {
        bytes = Array(text.utf8)
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(GrammarError) -> JSONValue {
        var stack: [Frame] = []
        parsing: while true {
            // Parse the start of a value: a scalar completes at once, a container is pushed.
            skipWhitespace()
            var value: JSONValue
            switch peek() {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard stack.count < maxDepth else { throw error("JSON nested deeper than \(maxDepth) levels") }
                let isObject = peek() == UInt8(ascii: "{")
                index += 1
                skipWhitespace()
                if isObject {
                    if peek() == UInt8(ascii: "}") {
                        index += 1
                        value = .object([])
                    } else {
                        stack.append(Frame(isObject: true, pendingKey: try parseKey()))
                        continue parsing
                    }
                } else if peek() == UInt8(ascii: "]") {
                    index += 1
                    value = .array([])
                } else {
                    stack.append(Frame(isObject: false))
                    continue parsing
                }
            default:
                value = try parseScalar()
            }
            // Complete `value`: add it to the enclosing container, then close containers or start the next element.
            while !stack.isEmpty {
                let top = stack.count - 1
                skipWhitespace()
                if stack[top].isObject {
                    let key = stack[top].pendingKey
                    stack[top].members.append((key, value))
                    stack[top].keys.insert(key)
                    switch peek() {
                    case UInt8(ascii: ","):
                        index += 1
                        skipWhitespace()
                        let keyStart = index
                        let next = try parseKey()
                        guard !stack[top].keys.contains(next) else {
                            index = keyStart
                            throw error("duplicate key \(JSONValue.string(next).text)")
                        }
                        stack[top].pendingKey = next
                        continue parsing
                    case UInt8(ascii: "}"):
                        index += 1
                        value = .object(stack.removeLast().members)
                    default: throw error("expected ',' or '}' after an object member")
                    }
                } else {
                    stack[top].elements.append(value)
                    switch peek() {
                    case UInt8(ascii: ","):
                        index += 1
                        continue parsing
                    case UInt8(ascii: "]"):
                        index += 1
                        value = .array(stack.removeLast().elements)
                    default: throw error("expected ',' or ']' after an array element")
                    }
                }
            }
            skipWhitespace()
            guard index == bytes.count else { throw error("unexpected text after the JSON value") }
            return value
        }
    }

    /// A member name and the `:` after it.
    private mutating func parseKey() throws(GrammarError) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw error("expected a string key") }
        let key = try parseString()
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
        index += 1
        return key
    }

    private mutating func parseScalar() throws(GrammarError) -> JSONValue {
        guard let byte = peek() else { throw error("unexpected end of input; expected a value") }
        switch byte {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        default: throw error("unexpected character; expected a value")
        }
    }

    private mutating func expectWord(_ word: StaticString) throws(GrammarError) {
        let count = word.utf8CodeUnitCount
        let matches = bytes.count - index >= count
            && word.withUTF8Buffer { buffer in buffer.indices.allSatisfy { bytes[index + $0] == buffer[$0] } }
        guard matches else { throw error("invalid literal; expected \(word)") }
        index += count
    }

    private mutating func parseNumber() throws(GrammarError) -> String {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw error("expected a digit") }
        index += 1
        if first == UInt8(ascii: "0"), let next = peek(), isDigit(next) {
            throw error("leading zeros are not allowed in numbers")
        }
        skipDigits()
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek(), isDigit(digit) else { throw error("expected a digit after '.'") }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek(), isDigit(digit) else { throw error("expected a digit in the exponent") }
            skipDigits()
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func parseString() throws(GrammarError) -> String {
        let quote = index
        index += 1
        var decoded: [UInt8] = []
        while true {
            guard let byte = peek() else {
                index = quote
                throw error("unterminated string")
            }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                let scalar = try parseEscape()
                UTF8.encode(scalar) { decoded.append($0) }
            case 0x00..<0x20:
                throw error("unescaped control character in a string")
            default:
                // Copy the run up to the next quote, backslash or control character at once.
                let start = index
                while index < bytes.count, bytes[index] >= 0x20, bytes[index] != UInt8(ascii: "\""),
                      bytes[index] != UInt8(ascii: "\\")
                {
                    index += 1
                }
                decoded.append(contentsOf: bytes[start..<index])
            }
        }
    }

    /// The character after a backslash (already consumed).
    private mutating func parseEscape() throws(GrammarError) -> Unicode.Scalar {
        guard let byte = peek() else { throw error("unterminated escape") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try parseHex4()
            if (0xD800...0xDBFF).contains(high) {
                guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw error("lone high surrogate in a \\u escape")
                }
                index += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw error("expected a low surrogate in a \\u escape") }
                let combined = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                guard let scalar = Unicode.Scalar(combined) else { throw error("invalid surrogate pair") }
                return scalar
            }
            guard let scalar = Unicode.Scalar(high) else { throw error("lone low surrogate in a \\u escape") }
            return scalar
        default:
            index -= 1
            throw error("invalid escape in a string")
        }
    }

    private mutating func parseHex4() throws(GrammarError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = hexValue(byte) else { throw error("expected 4 hex digits after \\u") }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { index += 1 }
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    /// An error at the current position, located by line and column.
    private func error(_ message: String) -> GrammarError {
        var line = 1
        var column = 1
        for byte in bytes[..<min(index, bytes.count)] {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return GrammarError(location: "line \(line), column \(column)", message: message)
    }
}

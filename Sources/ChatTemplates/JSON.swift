import Foundation

/// Options of the `tojson` filter, mirroring Python's `json.dumps` as Hugging Face's `tojson` calls it.
struct JSONOptions {
    /// Newline-and-indent mode when non-nil (Python `indent=`), with this string per level.
    var indent: String? = nil
    var ensureASCII = false
    var sortKeys = false
    /// Python `separators=(item, key)`; defaults depend on `indent` as in Python.
    var itemSeparator: String? = nil
    var keySeparator: String? = nil
    /// Fail once the output grows past this many bytes.
    var maxBytes = Int.max
}

/// Why a value could not be turned into JSON.
struct JSONEncodingFailure: Error {
    var typeName: String
    /// Whether the value was a dictionary key (Python: "keys must be str, int, float, bool or None").
    var isKey = false
    /// Whether the output exceeded ``JSONOptions/maxBytes`` instead.
    var tooLarge = false
}

enum JSONWriter {
    /// Python `json.dumps(value, ...)` with the given options.
    static func encode(_ value: JinjaValue, options: JSONOptions) throws(JSONEncodingFailure) -> String {
        var out = ""
        let itemSeparator = options.itemSeparator ?? (options.indent == nil ? ", " : ",")
        let keySeparator = options.keySeparator ?? ": "
        try write(value, level: 0, options: options, itemSeparator: itemSeparator, keySeparator: keySeparator,
                  into: &out)
        return out
    }

    private static func write(
        _ value: JinjaValue, level: Int, options: JSONOptions, itemSeparator: String, keySeparator: String,
        into out: inout String
    ) throws(JSONEncodingFailure) {
        switch value {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN {
                out += "NaN"
            } else if d.isInfinite {
                out += d < 0 ? "-Infinity" : "Infinity"
            } else {
                out += PythonFloat.repr(d)
            }
        case .string(let s): writeString(s, ensureASCII: options.ensureASCII, into: &out)
        case .array(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += itemSeparator }
                try newline(level: level + 1, options: options, into: &out)
                try write(item, level: level + 1, options: options, itemSeparator: itemSeparator,
                          keySeparator: keySeparator, into: &out)
            }
            try newline(level: level, options: options, into: &out)
            out += "]"
        case .dictionary(let dict):
            if dict.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            var pairs: [(key: String, value: JinjaValue)] = []
            for (key, value) in dict.pairs {
                guard let name = key.jsonKey else { throw JSONEncodingFailure(typeName: key.typeName, isKey: true) }
                pairs.append((name, value))
            }
            if options.sortKeys {
                pairs.sort { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
            }
            for (i, pair) in pairs.enumerated() {
                if i > 0 { out += itemSeparator }
                try newline(level: level + 1, options: options, into: &out)
                writeString(pair.key, ensureASCII: options.ensureASCII, into: &out)
                out += keySeparator
                try write(pair.value, level: level + 1, options: options, itemSeparator: itemSeparator,
                          keySeparator: keySeparator, into: &out)
            }
            try newline(level: level, options: options, into: &out)
            out += "}"
        case .undefined, .object:
            throw JSONEncodingFailure(typeName: value.typeName)
        }
    }

    private static func newline(level: Int, options: JSONOptions, into out: inout String) throws(JSONEncodingFailure) {
        if out.utf8.count > options.maxBytes { throw JSONEncodingFailure(typeName: "", tooLarge: true) }
        guard let indent = options.indent else { return }
        out += "\n"
        for _ in 0..<level { out += indent }
    }

    /// A JSON string literal as Python writes it.
    static func writeString(_ text: String, ensureASCII: Bool, into out: inout String) {
        var view = String.UnicodeScalarView()
        view.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": view.append(contentsOf: "\\\"".unicodeScalars)
            case "\\": view.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": view.append(contentsOf: "\\n".unicodeScalars)
            case "\r": view.append(contentsOf: "\\r".unicodeScalars)
            case "\t": view.append(contentsOf: "\\t".unicodeScalars)
            case "\u{08}": view.append(contentsOf: "\\b".unicodeScalars)
            case "\u{0C}": view.append(contentsOf: "\\f".unicodeScalars)
            default:
                if scalar.value < 0x20 || (ensureASCII && scalar.value > 0x7E) {
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x10000
                        view.append(contentsOf: PythonText.hexEscape(0xD800 + (v >> 10), prefix: "u", width: 4).unicodeScalars)
                        view.append(contentsOf: PythonText.hexEscape(0xDC00 + (v & 0x3FF), prefix: "u", width: 4).unicodeScalars)
                    } else {
                        view.append(contentsOf: PythonText.hexEscape(scalar.value, prefix: "u", width: 4).unicodeScalars)
                    }
                } else {
                    view.append(scalar)
                }
            }
        }
        view.append("\"")
        out += String(view)
    }
}

/// Why JSON text could not be read into a ``JinjaValue``.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// Byte offset in the UTF-8 input.
    public var offset: Int
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

extension JinjaValue {
    /// Reads JSON text, keeping object key order (which `tojson` reproduces). Integers become `.int` (or `.double`
    /// when too large), numbers with a fraction or exponent `.double`, `null` `.none`.
    public init(parsingJSON text: String) throws(JSONParseError) {
        try self.init(parsingJSON: Data(text.utf8))
    }

    /// Reads UTF-8 JSON data; see ``init(parsingJSON:)-(String)``.
    public init(parsingJSON data: Data) throws(JSONParseError) {
        var parser = JSONReader(bytes: [UInt8](data))
        self = try parser.parseDocument()
    }
}

/// A small recursive-descent JSON reader that preserves object key order.
private struct JSONReader {
    let bytes: [UInt8]
    var pos = 0
    var depth = 0
    static let maxDepth = 512

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws(JSONParseError) -> JinjaValue {
        let value = try parseValue()
        skipWhitespace()
        if pos != bytes.count { throw fail("unexpected trailing characters") }
        return value
    }

    func fail(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: pos) }

    mutating func skipWhitespace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    mutating func expect(_ literal: String, value: JinjaValue) throws(JSONParseError) -> JinjaValue {
        let utf8 = Array(literal.utf8)
        guard pos + utf8.count <= bytes.count, Array(bytes[pos..<pos + utf8.count]) == utf8 else {
            throw fail("expected \(literal)")
        }
        pos += utf8.count
        return value
    }

    mutating func parseValue() throws(JSONParseError) -> JinjaValue {
        skipWhitespace()
        guard pos < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
        case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
        case UInt8(ascii: "n"): return try expect("null", value: .none)
        case UInt8(ascii: "N"): return try expect("NaN", value: .double(.nan))
        case UInt8(ascii: "I"): return try expect("Infinity", value: .double(.infinity))
        default: return try parseNumber()
        }
    }

    mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > Self.maxDepth { throw fail("nesting deeper than \(Self.maxDepth)") }
    }

    mutating func parseObject() throws(JSONParseError) -> JinjaValue {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var dict = JinjaDictionary()
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .dictionary(dict)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            dict[key] = try parseValue()
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unterminated object") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
            } else if bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                return .dictionary(dict)
            } else {
                throw fail("expected ',' or '}'")
            }
        }
    }

    mutating func parseArray() throws(JSONParseError) -> JinjaValue {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var items: [JinjaValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(items)
        }
        while true {
            items.append(try parseValue())
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unterminated array") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
            } else if bytes[pos] == UInt8(ascii: "]") {
                pos += 1
                return .array(items)
            } else {
                throw fail("expected ',' or ']'")
            }
        }
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[pos..<pos + 4], as: UTF8.self), radix: 16)
        else { throw fail("bad \\u escape") }
        pos += 4
        return value
    }

    mutating func parseString() throws(JSONParseError) -> String {
        pos += 1
        var raw: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[pos]
            pos += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte != UInt8(ascii: "\\") {
                raw.append(byte)
                continue
            }
            guard pos < bytes.count else { throw fail("unterminated escape") }
            let escape = bytes[pos]
            pos += 1
            switch escape {
            case UInt8(ascii: "n"): raw.append(0x0A)
            case UInt8(ascii: "t"): raw.append(0x09)
            case UInt8(ascii: "r"): raw.append(0x0D)
            case UInt8(ascii: "b"): raw.append(0x08)
            case UInt8(ascii: "f"): raw.append(0x0C)
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): raw.append(escape)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800..<0xDC00).contains(code), pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"),
                    bytes[pos + 1] == UInt8(ascii: "u")
                {
                    let save = pos
                    pos += 2
                    let low = try parseHex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        pos = save
                    }
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                raw.append(contentsOf: Array(String(scalar).utf8))
            default: throw fail("bad escape")
            }
        }
        return String(decoding: raw, as: UTF8.self)
    }

    mutating func parseNumber() throws(JSONParseError) -> JinjaValue {
        let start = pos
        var isInteger = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "I") {
            _ = try expect("Infinity", value: .none)
            return .double(-.infinity)
        }
        while pos < bytes.count {
            let b = bytes[pos]
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                pos += 1
            } else if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
                || ((b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) && !isInteger)
            {
                isInteger = false
                pos += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard let d = Double(text), !text.isEmpty, text != "-" else {
            pos = start
            throw fail("unexpected character")
        }
        return .double(d)
    }
}

extension JinjaValue {
    /// The value as JSON text the way Python's `json.dumps(value)` writes it (`", "` and `": "` separators, keys in
    /// order); nil for values JSON cannot hold (macros, undefined).
    public var jsonText: String? { try? JSONWriter.encode(self, options: JSONOptions()) }
}

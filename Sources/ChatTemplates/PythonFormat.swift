import Foundation

/// Python string formatting: `'%s' % x`, `'{}'.format(x)`, and `int(text, base)` parsing.
enum PythonFormat {
    /// A parsed conversion spec: flags, width, precision and type letter.
    struct Spec {
        var fill: String = " "
        var align: Character? = nil
        var sign: Character = "-"
        var zeroPad = false
        var alternate = false
        var width = 0
        var precision: Int? = nil
        var type: Character? = nil
    }

    // MARK: printf-style

    /// Python `format % values`. A list on the right is the argument tuple when the format has several
    /// conversions (or `forceTuple`), else a single value; a dict serves `%(name)s`.
    static func percent(_ format: String, _ values: JinjaValue, forceTuple: Bool = false) throws(EvalError) -> String {
        let chars = Array(format.unicodeScalars)
        var conversions = 0
        var k = 0
        while k < chars.count {
            if chars[k] == "%" {
                if k + 1 < chars.count, chars[k + 1] == "%" { k += 1 } else { conversions += 1 }
            }
            k += 1
        }
        var arguments: [JinjaValue]
        if case .array(let items) = values, forceTuple || conversions != 1 { arguments = items } else { arguments = [values] }
        var out = ""
        var i = 0
        var used = 0
        while i < chars.count {
            guard chars[i] == "%" else {
                out.unicodeScalars.append(chars[i])
                i += 1
                continue
            }
            i += 1
            guard i < chars.count else { throw EvalError(.runtime, "incomplete format") }
            var key: String? = nil
            if chars[i] == "(" {
                guard let close = chars[i...].firstIndex(of: ")") else { throw EvalError(.runtime, "incomplete format key") }
                key = PythonText.string(chars[(i + 1)..<close])
                i = close + 1
            }
            var spec = Spec()
            spec.align = ">"
            while i < chars.count, "-+ 0#".unicodeScalars.contains(chars[i]) {
                switch chars[i] {
                case "-": spec.align = "<"
                case "+": spec.sign = "+"
                case " ": if spec.sign != "+" { spec.sign = " " }
                case "0": spec.zeroPad = true
                default: spec.alternate = true
                }
                i += 1
            }
            spec.width = readNumber(chars, &i) ?? 0
            if i < chars.count, chars[i] == "." {
                i += 1
                spec.precision = readNumber(chars, &i) ?? 0
            }
            guard i < chars.count else { throw EvalError(.runtime, "incomplete format") }
            let type = Character(chars[i])
            i += 1
            if type == "%" {
                out += "%"
                continue
            }
            spec.type = type
            let value: JinjaValue
            if let key {
                guard case .dictionary(let dict) = values, let v = dict[key] else {
                    throw EvalError(.runtime, "format requires a mapping with key '\(key)'")
                }
                value = v
            } else {
                guard used < arguments.count else { throw EvalError(.type, "not enough arguments for format string") }
                value = arguments[used]
                used += 1
            }
            if spec.align == "<" { spec.zeroPad = false }
            out += try render(value, spec, percentStyle: true)
        }
        if used < arguments.count, case .array = values, forceTuple || conversions != 1 {
            throw EvalError(.type, "not all arguments converted during string formatting")
        }
        return out
    }

    private static func readNumber(_ chars: [Unicode.Scalar], _ i: inout Int) -> Int? {
        var value: Int? = nil
        while i < chars.count, let d = Int(String(chars[i])), chars[i].isASCII {
            value = min((value ?? 0) * 10 + d, 1_000_000)
            i += 1
        }
        return value
    }

    // MARK: str.format

    /// Python `template.format(*args, **kwargs)` with fields `{}`, `{0}`, `{name}`, `{0.attr}`, `{0[key]}`,
    /// conversions `!s`/`!r` and format specs.
    static func format(_ template: String, _ args: CallArguments, interpreter: Interpreter) throws(EvalError) -> String {
        let chars = Array(template.unicodeScalars)
        var out = ""
        var i = 0
        var autoIndex = 0
        while i < chars.count {
            let c = chars[i]
            if c == "}" {
                guard i + 1 < chars.count, chars[i + 1] == "}" else {
                    throw EvalError(.runtime, "Single '}' encountered in format string")
                }
                out += "}"
                i += 2
                continue
            }
            guard c == "{" else {
                out.unicodeScalars.append(c)
                i += 1
                continue
            }
            if i + 1 < chars.count, chars[i + 1] == "{" {
                out += "{"
                i += 2
                continue
            }
            guard let close = chars[i...].firstIndex(of: "}") else {
                throw EvalError(.runtime, "Single '{' encountered in format string")
            }
            let field = PythonText.string(chars[(i + 1)..<close])
            i = close + 1
            var specText = ""
            var name = field
            if let colon = field.firstIndex(of: ":") {
                specText = String(field[field.index(after: colon)...])
                name = String(field[..<colon])
            }
            var conversion: Character? = nil
            if let bang = name.firstIndex(of: "!") {
                conversion = name[name.index(after: bang)...].first
                name = String(name[..<bang])
            }
            let path = name.split(omittingEmptySubsequences: false) { $0 == "." || $0 == "[" }
            let head = path.first.map(String.init) ?? ""
            var value: JinjaValue
            if head.isEmpty {
                guard autoIndex < args.positional.count else { throw EvalError(.runtime, "Replacement index \(autoIndex) out of range") }
                value = args.positional[autoIndex]
                autoIndex += 1
            } else if let index = Int(head) {
                guard index < args.positional.count else { throw EvalError(.runtime, "Replacement index \(index) out of range") }
                value = args.positional[index]
            } else {
                guard let v = args.keywords.first(where: { $0.0 == head })?.1 else { throw EvalError(.runtime, "KeyError: '\(head)'") }
                value = v
            }
            for part in path.dropFirst() {
                let key = part.hasSuffix("]") ? String(part.dropLast()) : String(part)
                value = interpreter.item(of: value, key: Int(key).map { .int($0) } ?? .string(key))
            }
            if conversion == "r" { value = .string(value.pythonRepr) } else if conversion == "s" { value = .string(value.pythonString) }
            out += try render(value, try parseSpec(specText), percentStyle: false)
        }
        return out
    }

    /// Parses `[[fill]align][sign][#][0][width][.precision][type]`.
    static func parseSpec(_ text: String) throws(EvalError) -> Spec {
        var spec = Spec()
        var chars = Array(text.unicodeScalars)[...]
        let aligns: Set<Unicode.Scalar> = ["<", ">", "^", "="]
        if chars.count >= 2, aligns.contains(chars[chars.startIndex + 1]) {
            spec.fill = String(chars.removeFirst())
            spec.align = Character(chars.removeFirst())
        } else if let first = chars.first, aligns.contains(first) {
            spec.align = Character(chars.removeFirst())
        }
        if let s = chars.first, s == "+" || s == "-" || s == " " { spec.sign = Character(chars.removeFirst()) }
        if chars.first == "#" { spec.alternate = true; chars.removeFirst() }
        if chars.first == "0" { spec.zeroPad = true; chars.removeFirst() }
        var array = Array(chars)
        var i = 0
        spec.width = readNumber(array, &i) ?? 0
        if i < array.count, array[i] == "." {
            i += 1
            spec.precision = readNumber(array, &i)
        }
        array.removeFirst(i)
        if let t = array.first { spec.type = Character(t) }
        if array.count > 1 { throw EvalError(.runtime, "Invalid format specifier '\(text)'") }
        return spec
    }

    /// Formats one value by a spec (shared by `%` and `format`).
    static func render(_ value: JinjaValue, _ spec: Spec, percentStyle: Bool) throws(EvalError) -> String {
        var body: String
        var numeric = false
        switch spec.type {
        case nil, "s":
            body = value.pythonString
            if !percentStyle, spec.type == nil, value.number != nil {
                numeric = true
            } else if let p = spec.precision {
                body = PythonText.string(body.unicodeScalars.prefix(p))
            }
        case "r", "a":
            body = value.pythonRepr
        case "c":
            guard let code = value.integerIndex, let scalar = Unicode.Scalar(UInt32(clamping: max(code, 0))) else {
                body = value.pythonString
                break
            }
            body = String(scalar)
        case "d", "i", "u", "x", "X", "o", "b":
            guard let n = value.number else {
                throw EvalError(.type, "%\(spec.type.map(String.init) ?? "d") format: a real number is required, not \(value.typeName)")
            }
            numeric = true
            let i = switch n {
            case .int(let v): v
            case .double(let d): d.isFinite ? Int(d) : 0
            }
            let radix = switch spec.type { case "x", "X": 16; case "o": 8; case "b": 2; default: 10 }
            body = String(i.magnitude, radix: radix, uppercase: spec.type == "X")
            if spec.alternate && radix != 10 { body = (radix == 16 ? "0x" : radix == 8 ? "0o" : "0b") + body }
            if i < 0 { body = "-" + body }
        case "f", "F", "e", "E", "g", "G", "%":
            guard let n = value.number else {
                throw EvalError(.type, "must be real number, not \(value.typeName)")
            }
            numeric = true
            var x = n.asDouble
            let precision = spec.precision ?? 6
            var type = spec.type ?? "f"
            if type == "%" { x *= 100; type = "f" }
            body = String(format: "%.\(precision)\(type)", x)
            if spec.type == "%" { body += "%" }
        default:
            throw EvalError(.runtime, "unsupported format character '\(spec.type.map(String.init) ?? "")'")
        }
        if numeric, spec.sign != "-", !body.hasPrefix("-") { body = String(spec.sign) + body }
        let length = body.unicodeScalars.count
        guard spec.width > length else { return body }
        if spec.zeroPad && numeric && spec.align != "<" {
            let signChars = body.first.map { "+- ".contains($0) } ?? false ? 1 : 0
            return String(body.prefix(signChars)) + String(repeating: "0", count: spec.width - length) + body.dropFirst(signChars)
        }
        let align: Character = spec.align ?? (numeric ? ">" : "<")
        return Methods.pad(body, width: spec.width, align: align == "=" ? ">" : align, fill: spec.fill)
    }

    /// Python `int(text, base)`: surrounding whitespace, sign, `_` between digits, base prefixes for base 16/8/2.
    static func parseInt(_ text: String, base: Int) -> Int? {
        var s = Substring(PythonText.strip(text))
        var negative = false
        if let first = s.first, first == "+" || first == "-" {
            negative = first == "-"
            s = s.dropFirst()
        }
        let prefixes = [16: "0x", 8: "0o", 2: "0b"]
        if let prefix = prefixes[base], s.lowercased().hasPrefix(prefix) { s = s.dropFirst(2) }
        guard !s.isEmpty, s.first != "_", s.last != "_", !s.contains("__") else { return nil }
        guard let value = Int(s.replacingOccurrences(of: "_", with: ""), radix: base) else { return nil }
        return negative ? -value : value
    }
}

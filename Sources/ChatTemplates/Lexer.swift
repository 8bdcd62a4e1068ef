/// One lexical token of a template. `offset` is the position (in Unicode scalars) in the normalised source.
struct Token: Equatable {
    enum Kind: Equatable {
        /// Literal template text between tags, already whitespace-controlled.
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// An operator or punctuation: `+`, `//`, `==`, `(`, `|`, `.` …
        case op(String)
        case eof
    }

    var kind: Kind
    var offset: Int
}

/// Splits a template into tokens exactly like jinja2's lexer configured with `trim_blocks=True` and
/// `lstrip_blocks=True`: newlines are normalised to `\n`, one trailing newline is dropped, `{%-`/`-%}` strip all
/// adjacent whitespace, `+` disables stripping, a block or comment tag alone on its line loses its indentation,
/// and the first newline after a block or comment tag is removed.
struct Lexer {
    /// The normalised source (what offsets refer to).
    let source: [Unicode.Scalar]
    private var pos = 0
    private var tokens: [Token] = []
    /// jinja2's `line_starting`: whether the last consumed tag ended with a newline (true at the start).
    private var lineStarting = true

    init(_ text: String) {
        source = Lexer.normalizeNewlines(text)
    }

    /// `\r\n` and `\r` become `\n`; a single trailing newline is removed (jinja2's `keep_trailing_newline=False`).
    static func normalizeNewlines(_ text: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.unicodeScalars.count)
        var previousCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\r" {
                out.append("\n")
                previousCR = true
                continue
            }
            if scalar == "\n" && previousCR {
                previousCR = false
                continue
            }
            previousCR = false
            out.append(scalar)
        }
        if out.last == "\n" { out.removeLast() }
        return out
    }

    /// Tokenizes the whole source. Errors carry the source offset.
    mutating func tokenize() throws(EvalError) -> [Token] {
        while pos < source.count {
            guard let tagStart = nextTagStart(from: pos) else {
                emitText(Array(source[pos...]), at: pos)
                pos = source.count
                break
            }
            try lexTag(at: tagStart)
        }
        tokens.append(Token(kind: .eof, offset: source.count))
        return tokens
    }

    private func at(_ i: Int) -> Unicode.Scalar? { i < source.count ? source[i] : nil }

    private func matches(_ literal: String, at i: Int) -> Bool {
        var j = i
        for scalar in literal.unicodeScalars {
            guard at(j) == scalar else { return false }
            j += 1
        }
        return true
    }

    private func nextTagStart(from start: Int) -> Int? {
        var i = start
        while i + 1 < source.count {
            if source[i] == "{", source[i + 1] == "{" || source[i + 1] == "%" || source[i + 1] == "#" { return i }
            i += 1
        }
        return nil
    }

    private func skipWhitespace(from start: Int) -> Int {
        var i = start
        while let s = at(i), PythonText.isWhitespace(s) { i += 1 }
        return i
    }

    private mutating func emitText(_ text: [Unicode.Scalar], at offset: Int) {
        if !text.isEmpty { tokens.append(Token(kind: .text(PythonText.string(text)), offset: offset)) }
    }

    /// Applies `-`, `+` and lstrip_blocks to the text that precedes a tag (jinja2's `OptionalLStrip`).
    private func controlledText(_ text: ArraySlice<Unicode.Scalar>, sign: Unicode.Scalar?, lstrip: Bool)
        -> ArraySlice<Unicode.Scalar>
    {
        if sign == "-" {
            var end = text.endIndex
            while end > text.startIndex && PythonText.isWhitespace(text[end - 1]) { end -= 1 }
            return text[text.startIndex..<end]
        }
        guard sign != "+", lstrip else { return text }
        let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? text.startIndex
        guard lineStart > text.startIndex || lineStarting else { return text }
        let tail = text[lineStart...]
        if !tail.isEmpty && tail.allSatisfy(PythonText.isWhitespace) { return text[text.startIndex..<lineStart] }
        return text
    }

    /// Lexes the tag starting at `start` (`{{`, `{%` or `{#`) together with the text before it.
    private mutating func lexTag(at start: Int) throws(EvalError) {
        let opener = source[start + 1]
        var afterOpener = start + 2
        var sign: Unicode.Scalar? = nil
        if let s = at(afterOpener), s == "-" || s == "+" {
            sign = s
            afterOpener += 1
        }
        let rawEnd = opener == "%" ? rawBlockBegin(after: afterOpener) : nil
        let text = controlledText(source[pos..<start], sign: sign, lstrip: opener != "{")
        emitText(Array(text), at: pos)
        pos = afterOpener
        switch opener {
        case "#":
            try lexComment(start: start)
        case "%" where rawEnd != nil:
            pos = rawEnd ?? pos
            lineStarting = source[pos - 1] == "\n"
            try lexRawBody(start: start)
        default:
            let isBlock = opener == "%"
            tokens.append(Token(kind: isBlock ? .blockBegin : .variableBegin, offset: start))
            try lexTagBody(isBlock: isBlock, start: start)
        }
    }

    /// If `{% raw %}` starts here (position just after `{%` and its sign), the end of that opening tag.
    private func rawBlockBegin(after i: Int) -> Int? {
        var j = skipWhitespace(from: i)
        guard matches("raw", at: j) else { return nil }
        j = skipWhitespace(from: j + 3)
        if matches("-%}", at: j) { return skipWhitespace(from: j + 3) }
        if matches("%}", at: j) { return j + 2 }
        return nil
    }

    private mutating func lexComment(start: Int) throws(EvalError) {
        var j = pos
        while j < source.count {
            if matches("+#}", at: j) {
                pos = j + 3
            } else if matches("-#}", at: j) {
                pos = skipWhitespace(from: j + 3)
            } else if matches("#}", at: j) {
                pos = j + 2
                if at(pos) == "\n" { pos += 1 }
            } else {
                j += 1
                continue
            }
            lineStarting = source[pos - 1] == "\n"
            return
        }
        throw EvalError(.syntax, "missing end of comment tag '#}'", at: start)
    }

    /// The body of `{% raw %}…{% endraw %}`, emitted as text.
    private mutating func lexRawBody(start: Int) throws(EvalError) {
        var j = pos
        while j < source.count {
            guard matches("{%", at: j) else {
                j += 1
                continue
            }
            var k = j + 2
            var sign: Unicode.Scalar? = nil
            if let s = at(k), s == "-" || s == "+" {
                sign = s
                k += 1
            }
            k = skipWhitespace(from: k)
            guard matches("endraw", at: k) else {
                j += 1
                continue
            }
            k = skipWhitespace(from: k + 6)
            let end: Int
            if matches("+%}", at: k) {
                end = k + 3
            } else if matches("-%}", at: k) {
                end = skipWhitespace(from: k + 3)
            } else if matches("%}", at: k) {
                end = at(k + 2) == "\n" ? k + 3 : k + 2
            } else {
                j += 1
                continue
            }
            emitText(Array(controlledText(source[pos..<j], sign: sign, lstrip: true)), at: pos)
            pos = end
            lineStarting = source[pos - 1] == "\n"
            return
        }
        throw EvalError(.syntax, "missing end of raw directive '{% endraw %}'", at: start)
    }

    /// Tokens inside `{{ … }}` or `{% … %}` up to and including the closing delimiter.
    private mutating func lexTagBody(isBlock: Bool, start: Int) throws(EvalError) {
        var balance: [Unicode.Scalar] = []
        while true {
            guard pos < source.count else {
                let what = isBlock ? "'%}' to close the block tag" : "'}}' to close the expression"
                throw EvalError(.syntax, "unexpected end of template, expected \(what)", at: start)
            }
            if balance.isEmpty, let end = closingDelimiterEnd(isBlock: isBlock) {
                tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, offset: pos))
                pos = end
                lineStarting = source[pos - 1] == "\n"
                return
            }
            let scalar = source[pos]
            if PythonText.isWhitespace(scalar) {
                pos += 1
                continue
            }
            let tokenStart = pos
            if let number = lexNumber() {
                tokens.append(Token(kind: number, offset: tokenStart))
            } else if scalar == "_" || scalar.properties.isXIDStart {
                while let s = at(pos), s == "_" || s.properties.isXIDContinue { pos += 1 }
                tokens.append(Token(kind: .name(PythonText.string(source[tokenStart..<pos])), offset: tokenStart))
            } else if scalar == "'" || scalar == "\"" {
                tokens.append(Token(kind: .string(try lexString()), offset: tokenStart))
            } else {
                let op = try lexOperator(balance: &balance)
                tokens.append(Token(kind: .op(op), offset: tokenStart))
            }
        }
    }

    /// Where the closing `%}` / `}}` (with its whitespace control) ends, if one starts at `pos`.
    private func closingDelimiterEnd(isBlock: Bool) -> Int? {
        if isBlock {
            if matches("+%}", at: pos) { return pos + 3 }
            if matches("-%}", at: pos) { return skipWhitespace(from: pos + 3) }
            if matches("%}", at: pos) { return at(pos + 2) == "\n" ? pos + 3 : pos + 2 }
            return nil
        }
        if matches("-}}", at: pos) { return skipWhitespace(from: pos + 3) }
        if matches("}}", at: pos) { return pos + 2 }
        return nil
    }

    private func isDigit(_ s: Unicode.Scalar?, hex: Bool = false) -> Bool {
        guard let s else { return false }
        if s.value >= 0x30 && s.value <= 0x39 { return true }
        return hex && ((s.value >= 0x41 && s.value <= 0x46) || (s.value >= 0x61 && s.value <= 0x66))
    }

    /// Digits with optional single `_` separators starting at `i`; returns the end or nil if there is no digit.
    private func digitRun(from i: Int, hex: Bool = false) -> Int? {
        guard isDigit(at(i), hex: hex) else { return nil }
        var j = i + 1
        while true {
            if isDigit(at(j), hex: hex) {
                j += 1
            } else if at(j) == "_", isDigit(at(j + 1), hex: hex) {
                j += 2
            } else {
                return j
            }
        }
    }

    /// A float or integer literal at `pos` (Python syntax with `_` separators), advancing past it.
    private mutating func lexNumber() -> Token.Kind? {
        guard isDigit(at(pos)) else { return nil }
        let source = self.source
        let clean: (Int, Int) -> String = { a, b in PythonText.string(source[a..<b].filter { $0 != "_" }) }
        // Float: not directly after a '.', digits then a fraction and/or an exponent.
        if pos == 0 || source[pos - 1] != ".", let intEnd = digitRun(from: pos) {
            var end = intEnd
            var isFloat = false
            if at(end) == ".", let fracEnd = digitRun(from: end + 1) {
                end = fracEnd
                isFloat = true
            }
            if let e = at(end), e == "e" || e == "E" {
                var k = end + 1
                if let s = at(k), s == "+" || s == "-" { k += 1 }
                if let expEnd = digitRun(from: k) {
                    end = expEnd
                    isFloat = true
                }
            }
            if isFloat, let value = Double(clean(pos, end)) {
                pos = end
                return .float(value)
            }
        }
        // Integer: 0b/0o/0x prefixes, decimal, or zeros.
        if source[pos] == "0", let p = at(pos + 1), "bBoOxX".unicodeScalars.contains(p) {
            let radix = (p == "b" || p == "B") ? 2 : (p == "o" || p == "O") ? 8 : 16
            var j = pos + 2
            var text = ""
            while true {
                if at(j) == "_" { j += 1 }
                guard let d = at(j), let v = Int(String(d), radix: radix) else { break }
                text += String(v, radix: radix)
                j += 1
            }
            if !text.isEmpty, let value = Int(text, radix: radix) {
                pos = j
                return .integer(value)
            }
        }
        if source[pos] == "0" {
            var j = pos + 1
            while at(j) == "0" || (at(j) == "_" && at(j + 1) == "0") { j += at(j) == "_" ? 2 : 1 }
            pos = j
            return .integer(0)
        }
        let end = digitRun(from: pos) ?? pos + 1
        let text = clean(pos, end)
        pos = end
        // Integers beyond 64 bits are kept as floats rather than failing.
        if let value = Int(text) { return .integer(value) }
        return .float(Double(text) ?? .infinity)
    }

    private mutating func lexString() throws(EvalError) -> String {
        let start = pos
        let quote = source[pos]
        var j = pos + 1
        while j < source.count, source[j] != quote {
            j += source[j] == "\\" ? 2 : 1
        }
        guard j < source.count else {
            throw EvalError(.syntax, "unterminated string literal", at: start)
        }
        pos = j + 1
        return try Lexer.unescape(source[(start + 1)..<j], offset: start)
    }

    /// Python `unicode-escape` decoding of a string literal's body.
    static func unescape(_ body: ArraySlice<Unicode.Scalar>, offset: Int) throws(EvalError) -> String {
        var out = String.UnicodeScalarView()
        var i = body.startIndex
        func hexValue(_ count: Int) throws(EvalError) -> UInt32 {
            guard i + 1 + count <= body.endIndex,
                let v = UInt32(PythonText.string(body[(i + 1)..<(i + 1 + count)]), radix: 16)
            else { throw EvalError(.syntax, "truncated \\x, \\u or \\U escape in string literal", at: offset) }
            return v
        }
        while i < body.endIndex {
            let s = body[i]
            guard s == "\\", i + 1 < body.endIndex else {
                out.append(s)
                i += 1
                continue
            }
            i += 1
            let e = body[i]
            switch e {
            case "\\", "'", "\"": out.append(e)
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "\n": break
            case "x", "u", "U":
                let count = e == "x" ? 2 : e == "u" ? 4 : 8
                let value = try hexValue(count)
                guard let scalar = Unicode.Scalar(value) else {
                    throw EvalError(.syntax, "invalid \\\(e) escape in string literal", at: offset)
                }
                out.append(scalar)
                i += count
            case "0"..."7":
                var value: UInt32 = 0
                var n = 0
                while n < 3, i < body.endIndex, ("0"..."7").contains(body[i]) {
                    value = value * 8 + (body[i].value - 0x30)
                    i += 1
                    n += 1
                }
                out.append(Unicode.Scalar(value) ?? "\u{FFFD}")
                continue
            default:
                out.append("\\")
                out.append(e)
            }
            i += 1
        }
        return String(out)
    }

    private static let twoCharOperators: Set<String> = ["//", "**", "==", "!=", ">=", "<="]
    private static let oneCharOperators: Set<Unicode.Scalar> = [
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ]

    private mutating func lexOperator(balance: inout [Unicode.Scalar]) throws(EvalError) -> String {
        let start = pos
        if let next = at(pos + 1) {
            let pair = String(source[pos]) + String(next)
            if Lexer.twoCharOperators.contains(pair) {
                pos += 2
                return pair
            }
        }
        let s = source[pos]
        guard Lexer.oneCharOperators.contains(s) else {
            throw EvalError(.syntax, "unexpected character \(PythonText.repr(String(s))) in tag", at: start)
        }
        switch s {
        case "{": balance.append("}")
        case "(": balance.append(")")
        case "[": balance.append("]")
        case "}", ")", "]":
            guard let expected = balance.popLast() else {
                throw EvalError(.syntax, "unexpected '\(s)'", at: start)
            }
            if expected != s { throw EvalError(.syntax, "unexpected '\(s)', expected '\(expected)'", at: start) }
        default: break
        }
        pos += 1
        return String(s)
    }
}

/// Reads llama.cpp's GBNF: `name ::= alternatives` rules; string literals (`"…"` with `\n \t \r \\ \" \xNN \uNNNN
/// \UNNNNNNNN` escapes); character classes (`[a-z]`, `[^"\\]`); `.` for any character; rule references; groups;
/// `|`; repetition `* + ? {m} {m,} {m,n}`; `#` comments. Inside parentheses, and after `::=` or `|`, rules may span
/// lines; a line starting with `|` continues the previous rule's alternatives.
///
/// Characters are Unicode scalars: a class is lowered to UTF-8 byte sequences, so the compiled grammar is over bytes.
struct GBNFParser {
    private let text: [UInt8]
    private var at = 0
    private var rules: [[[Grammar.Symbol]]?] = []
    private var names: [String] = []
    private var ids: [String: Int] = [:]
    /// Where each rule was first referenced (for "undefined rule" errors).
    private var firstUse: [Int: Int] = [:]
    private var generatedClasses: [[ClosedRange<UInt32>]: Int] = [:]
    /// Symbols produced so far: repetition can multiply a grammar's size, so it is bounded as it grows.
    private var budget = Grammar.maxElements

    /// The largest repetition count accepted in `{m,n}`.
    static let maxRepetition = 10_000

    init(_ source: String) {
        text = Array(source.utf8)
    }

    static func parse(_ source: String, root: String) throws(GrammarError) -> (rules: [[[Grammar.Symbol]]], names: [String], root: Int) {
        var parser = GBNFParser(source)
        try parser.parseRules()
        guard let rootID = parser.ids[root], parser.rules[rootID] != nil else {
            throw GrammarError(location: "", message: "the grammar has no rule named \"\(root)\" (the start rule)")
        }
        var complete: [[[Grammar.Symbol]]] = []
        for (id, alternatives) in parser.rules.enumerated() {
            guard let alternatives else {
                throw GrammarError(location: parser.location(parser.firstUse[id] ?? 0),
                                   message: "undefined rule \"\(parser.names[id])\"")
            }
            complete.append(alternatives)
        }
        return (complete, parser.names, rootID)
    }

    // MARK: Rules

    private mutating func parseRules() throws(GrammarError) {
        skipSpace(newlines: true)
        if at == text.count { throw GrammarError(location: "line 1, column 1", message: "the grammar is empty") }
        while at < text.count {
            let start = at
            let name = try parseName()
            skipSpace(newlines: false)
            guard consume("::=") else { throw error("expected \"::=\" after the rule name \"\(name)\"") }
            let id = ruleID(name, usedAt: start)
            if rules[id] != nil { throw GrammarError(location: location(start), message: "rule \"\(name)\" is defined twice") }
            skipSpace(newlines: true)
            rules[id] = try parseAlternatives(nested: false)
            skipSpace(newlines: false)
            if at < text.count && text[at] != UInt8(ascii: "\n") && text[at] != UInt8(ascii: "\r") {
                throw error("unexpected \(describe(text[at])) at the end of rule \"\(name)\"")
            }
            skipSpace(newlines: true)
        }
    }

    private mutating func parseAlternatives(nested: Bool) throws(GrammarError) -> [[Grammar.Symbol]] {
        var alternatives = [try parseSequence(nested: nested)]
        while true {
            let save = at
            skipSpace(newlines: true)
            guard at < text.count, text[at] == UInt8(ascii: "|") else {
                at = save
                return alternatives
            }
            at += 1
            skipSpace(newlines: true)
            alternatives.append(try parseSequence(nested: nested))
        }
    }

    private mutating func parseSequence(nested: Bool) throws(GrammarError) -> [Grammar.Symbol] {
        var sequence: [Grammar.Symbol] = []
        while at < text.count {
            let c = text[at]
            let itemStart = at
            var item: [Grammar.Symbol]
            switch c {
            case UInt8(ascii: "\""):
                at += 1
                item = try parseLiteral()
            case UInt8(ascii: "["):
                at += 1
                item = try classSymbols(try parseClass())
            case UInt8(ascii: "."):
                at += 1
                item = try classSymbols([0...0x10FFFF])
            case UInt8(ascii: "("):
                at += 1
                skipSpace(newlines: true)
                let alternatives = try parseAlternatives(nested: true)
                skipSpace(newlines: true)
                guard consume(")") else { throw error("expected \")\" to close the group opened at \(location(itemStart))") }
                item = alternatives.count == 1 ? alternatives[0] : [.rule(newRule("group", alternatives))]
            default:
                guard Self.isNameByte(c) else { return sequence }
                let name = try parseName()
                // A name followed by "::=" starts the next rule (a rule may end without a newline before it).
                let save = at
                skipSpace(newlines: false)
                if consume("::=") {
                    at = itemStart
                    return sequence
                }
                at = save
                item = [.rule(ruleID(name, usedAt: itemStart))]
            }
            skipSpace(newlines: nested)
            item = try parseRepetition(of: item)
            try spend(item.count)
            sequence += item
            skipSpace(newlines: nested)
        }
        return sequence
    }

    private mutating func parseRepetition(of item: [Grammar.Symbol]) throws(GrammarError) -> [Grammar.Symbol] {
        guard at < text.count else { return item }
        let bounds: (min: Int, max: Int?)
        switch text[at] {
        case UInt8(ascii: "*"): at += 1; bounds = (0, nil)
        case UInt8(ascii: "+"): at += 1; bounds = (1, nil)
        case UInt8(ascii: "?"): at += 1; bounds = (0, 1)
        case UInt8(ascii: "{"):
            at += 1
            skipSpace(newlines: false)
            let low = try parseCount()
            skipSpace(newlines: false)
            var high: Int? = low
            if consume(",") {
                skipSpace(newlines: false)
                high = at < text.count && text[at] != UInt8(ascii: "}") ? try parseCount() : nil
                skipSpace(newlines: false)
            }
            guard consume("}") else { throw error("expected \"}\" to close the repetition count") }
            if let high, high < low { throw error("repetition {\(low),\(high)}: the maximum is below the minimum") }
            bounds = (low, high)
        default: return item
        }
        skipSpace(newlines: false)
        if at < text.count, [UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{")].contains(text[at]) {
            throw error("a repetition cannot follow another one directly; group the item first: (x*)+")
        }
        return try repeated(item, min: bounds.min, max: bounds.max)
    }

    /// `item` repeated `min` to `max` times (nil: unbounded), as symbols and new rules.
    private mutating func repeated(_ item: [Grammar.Symbol], min: Int, max: Int?) throws(GrammarError) -> [Grammar.Symbol] {
        let unit: [Grammar.Symbol] = item.count == 1 ? item : [.rule(newRule("repeat", [item]))]
        try spend(min + (max.map { $0 - min } ?? 1) * 2)
        var out = [Grammar.Symbol](repeating: unit[0], count: min)
        if let max {
            guard max > min else { return out }
            // optional(k) ::= unit optional(k-1) | ε — a chain, so the text stays linear in max - min.
            var tail: Int? = nil
            for _ in 0..<(max - min) {
                tail = newRule("optional", [unit + (tail.map { [.rule($0)] } ?? []), []])
            }
            out.append(.rule(tail!))
        } else {
            let star = newRule("star", [])
            rules[star] = [unit + [.rule(star)], []]
            out.append(.rule(star))
        }
        return out
    }

    private mutating func parseCount() throws(GrammarError) -> Int {
        var value = 0, digits = 0
        while at < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[at]) {
            value = value * 10 + Int(text[at] - UInt8(ascii: "0"))
            digits += 1
            at += 1
            if value > Self.maxRepetition {
                throw error("repetition count above the limit of \(Self.maxRepetition)")
            }
        }
        if digits == 0 { throw error("expected a number in the repetition count") }
        return value
    }

    // MARK: Terminals

    private mutating func parseLiteral() throws(GrammarError) -> [Grammar.Symbol] {
        var symbols: [Grammar.Symbol] = []
        while true {
            guard at < text.count, text[at] != UInt8(ascii: "\n") else { throw error("unterminated string literal") }
            if text[at] == UInt8(ascii: "\"") {
                at += 1
                return symbols
            }
            let scalar = try parseChar()
            symbols += UTF8Ranges.encode(scalar).map { .bytes(ByteSet($0...$0)) }
        }
    }

    private mutating func parseClass() throws(GrammarError) -> [ClosedRange<UInt32>] {
        let negated = consume("^")
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            guard at < text.count, text[at] != UInt8(ascii: "\n") else { throw error("unterminated character class") }
            if text[at] == UInt8(ascii: "]") {
                at += 1
                break
            }
            let low = try parseChar()
            var high = low
            if at + 1 < text.count, text[at] == UInt8(ascii: "-"), text[at + 1] != UInt8(ascii: "]") {
                at += 1
                high = try parseChar()
                if high < low { throw error("character range is reversed") }
            }
            ranges.append(low...high)
        }
        return negated ? Self.complement(ranges) : Self.normalized(ranges)
    }

    /// One character of a literal or class, with escapes; a raw multi-byte UTF-8 character is one scalar.
    private mutating func parseChar() throws(GrammarError) -> UInt32 {
        let c = text[at]
        if c == UInt8(ascii: "\\") {
            at += 1
            guard at < text.count else { throw error("unterminated escape") }
            let e = text[at]
            at += 1
            switch e {
            case UInt8(ascii: "n"): return 0x0A
            case UInt8(ascii: "t"): return 0x09
            case UInt8(ascii: "r"): return 0x0D
            case UInt8(ascii: "x"): return try parseHex(2)
            case UInt8(ascii: "u"): return try parseHex(4)
            case UInt8(ascii: "U"): return try parseHex(8)
            case _ where e < 0x80 && !Self.isNameByte(e): return UInt32(e)
            default: throw error("unknown escape \"\\\(describe(e))\"")
            }
        }
        // Decode one UTF-8 scalar.
        let length = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2
        guard at + length <= text.count else { throw error("truncated UTF-8 character") }
        var value = length == 1 ? UInt32(c) : UInt32(c) & (0xFF >> UInt32(length + 1))
        for i in 1..<length { value = value << 6 | UInt32(text[at + i] & 0x3F) }
        at += length
        return value
    }

    private mutating func parseHex(_ digits: Int) throws(GrammarError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard at < text.count, let d = Self.hexValue(text[at]) else { throw error("expected \(digits) hexadecimal digits") }
            value = value << 4 | d
            at += 1
        }
        guard value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else { throw error("\\u\(value) is not a Unicode scalar") }
        return value
    }

    /// A class as symbols: one byte set when every character is ASCII, else a rule of UTF-8 sequences.
    private mutating func classSymbols(_ ranges: [ClosedRange<UInt32>]) throws(GrammarError) -> [Grammar.Symbol] {
        if ranges.isEmpty { throw error("the character class matches nothing") }
        if ranges.allSatisfy({ $0.upperBound < 0x80 }) {
            var set = ByteSet()
            for r in ranges { set.formUnion(ByteSet(UInt8(r.lowerBound)...UInt8(r.upperBound))) }
            return [.bytes(set)]
        }
        if let rule = generatedClasses[ranges] { return [.rule(rule)] }
        // Sequences that share their leading byte ranges stay separate alternatives; the matcher explores them together.
        let alternatives = UTF8Ranges.sequences(ranges).map { $0.map { Grammar.Symbol.bytes(ByteSet($0)) } }
        try spend(alternatives.reduce(0) { $0 + $1.count + 1 })
        let rule = newRule("class", alternatives)
        generatedClasses[ranges] = rule
        return [.rule(rule)]
    }

    static func normalized(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var merged: [ClosedRange<UInt32>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return merged
    }

    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in normalized(ranges) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return out
    }

    // MARK: Names and rules

    private mutating func parseName() throws(GrammarError) -> String {
        let start = at
        while at < text.count, Self.isNameByte(text[at]) { at += 1 }
        if at == start { throw error(at < text.count ? "expected a rule name, found \(describe(text[at]))" : "expected a rule name") }
        return String(decoding: text[start..<at], as: UTF8.self)
    }

    private mutating func ruleID(_ name: String, usedAt position: Int) -> Int {
        if let id = ids[name] { return id }
        let id = rules.count
        ids[name] = id
        names.append(name)
        rules.append(nil)
        firstUse[id] = position
        return id
    }

    private mutating func newRule(_ kind: String, _ alternatives: [[Grammar.Symbol]]) -> Int {
        let id = rules.count
        names.append("\(kind)#\(id)")
        rules.append(alternatives)
        return id
    }

    private mutating func spend(_ symbols: Int) throws(GrammarError) {
        budget -= symbols
        if budget < 0 { throw error("the grammar expands to more than \(Grammar.maxElements) symbols") }
    }

    // MARK: Lexing

    private mutating func skipSpace(newlines: Bool) {
        while at < text.count {
            switch text[at] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"): at += 1
            case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                guard newlines else { return }
                at += 1
            case UInt8(ascii: "#"):
                while at < text.count, text[at] != UInt8(ascii: "\n") { at += 1 }
            default: return
            }
        }
    }

    private mutating func consume(_ token: String) -> Bool {
        let bytes = Array(token.utf8)
        guard at + bytes.count <= text.count, Array(text[at..<at + bytes.count]) == bytes else { return false }
        at += bytes.count
        return true
    }

    static func isNameByte(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }

    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    private func describe(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? "\"\(Character(Unicode.Scalar(c)))\"" : "byte 0x\(String(c, radix: 16))"
    }

    func location(_ position: Int) -> String {
        var line = 1, column = 1
        for c in text[..<min(position, text.count)] {
            if c == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
        }
        return "line \(line), column \(column)"
    }

    private func error(_ message: String) -> GrammarError {
        GrammarError(location: location(at), message: message)
    }
}

extension Grammar {
    /// Compiles GBNF text (llama.cpp's grammar format); `root` names the start rule.
    public convenience init(gbnf: String, root: String = "root") throws(GrammarError) {
        let parsed = try GBNFParser.parse(gbnf, root: root)
        try self.init(rules: parsed.rules, names: parsed.names, root: parsed.root, source: gbnf)
    }
}

extension RegexGrammar {
    typealias ScalarSet = GBNFSynthesis.ScalarSet

    /// The largest count a quantifier (`{m,n}`) may have.
    static let maxRepetitionCount = 10_000

    /// How deeply groups may nest.
    static let maxGroupDepth = 128

    /// A syntax problem in a pattern: what, and at which character (Unicode scalar) offset.
    struct SyntaxError: Error {
        var offset: Int
        var message: String
    }

    /// A parsed regular expression. Literal characters are one-element sets.
    indirect enum Node: Equatable {
        case empty
        case characters(ScalarSet)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?)

        /// Whether the node matches the empty string.
        var isNullable: Bool {
            switch self {
            case .empty: true
            case .characters: false
            case .sequence(let items): items.allSatisfy(\.isNullable)
            case .alternation(let alternatives): alternatives.contains(where: \.isNullable)
            case .repetition(let item, let min, _): min == 0 || item.isNullable
            }
        }

        /// A node that, repeated without bound, matches what this one repeated without bound matches, but never the
        /// empty string (`nil`: only the empty string). A GBNF loop over something that can match nothing would be
        /// left-recursive, so `(a|)*` is written `a*`. Linear: a sequence of nullable items loops as their
        /// alternation, since `(x y)* = (x | y)*` when `x` and `y` both match the empty string.
        var loopBody: Node? {
            guard isNullable else { return self }
            switch self {
            case .empty, .characters:
                return nil
            case .sequence(let items), .alternation(let items):
                let bodies = items.compactMap(\.loopBody)
                return bodies.isEmpty ? nil : bodies.count == 1 ? bodies[0] : .alternation(bodies)
            case .repetition(let item, _, let max):
                // (x{m,n})* is x* when x{m,n} is nullable (m = 0, or x nullable).
                return max == 0 ? nil : item.loopBody
            }
        }
    }

    /// One top-level alternative, and whether `^` / `$` anchored it.
    struct Branch {
        var node: Node
        var anchoredAtStart: Bool
        var anchoredAtEnd: Bool
    }

    /// A recursive-descent parser for the ECMAScript-flavoured subset JSON Schema patterns use.
    struct Parser {
        private let scalars: [Unicode.Scalar]
        private var index = 0
        private var groupDepth = 0

        init(_ pattern: String) { scalars = Array(pattern.unicodeScalars) }

        /// The top-level alternatives of the whole pattern.
        mutating func parse() throws(SyntaxError) -> [Branch] {
            var branches = [try parseBranch(topLevel: true)]
            while peek() == "|" {
                index += 1
                branches.append(try parseBranch(topLevel: true))
            }
            if index < scalars.count { throw SyntaxError(offset: index, message: "unmatched ')'") }
            return branches
        }

        private mutating func parseAlternation() throws(SyntaxError) -> Node {
            var alternatives = [try parseBranch(topLevel: false).node]
            while peek() == "|" {
                index += 1
                alternatives.append(try parseBranch(topLevel: false).node)
            }
            return alternatives.count == 1 ? alternatives[0] : .alternation(alternatives)
        }

        /// A sequence up to `|`, `)` or the end; at the top level it may start with `^` and end with `$`.
        private mutating func parseBranch(topLevel: Bool) throws(SyntaxError) -> Branch {
            var items: [Node] = []
            var anchoredAtStart = false
            var anchoredAtEnd = false
            if topLevel && peek() == "^" {
                anchoredAtStart = true
                index += 1
            }
            loop: while let scalar = peek() {
                switch scalar {
                case "|", ")":
                    break loop
                case "^":
                    throw SyntaxError(offset: index, message: "'^' is only supported at the start of the pattern")
                case "$":
                    let next = index + 1 < scalars.count ? scalars[index + 1] : nil
                    guard topLevel, next == nil || next == "|" else {
                        throw SyntaxError(offset: index, message: "'$' is only supported at the end of the pattern")
                    }
                    anchoredAtEnd = true
                    index += 1
                    break loop
                case "*", "+", "?":
                    throw SyntaxError(offset: index, message: "nothing to repeat before '\(scalar)'")
                default:
                    if scalar == "{", try quantifierAhead() {
                        throw SyntaxError(offset: index, message: "nothing to repeat before '{'")
                    }
                    let atom = try parseAtom()
                    if let (min, max) = try parseQuantifier() {
                        items.append(.repetition(atom, min: min, max: max))
                    } else {
                        items.append(atom)
                    }
                }
            }
            let node: Node = items.isEmpty ? .empty : items.count == 1 ? items[0] : .sequence(items)
            return Branch(node: node, anchoredAtStart: anchoredAtStart, anchoredAtEnd: anchoredAtEnd)
        }

        private mutating func parseAtom() throws(SyntaxError) -> Node {
            guard let scalar = peek() else { throw SyntaxError(offset: index, message: "unexpected end of pattern") }
            switch scalar {
            case ".":
                index += 1
                return .characters(Self.dot)
            case "(":
                return try parseGroup()
            case "[":
                return .characters(try parseClass())
            case "\\":
                return .characters(try parseEscape(inClass: false))
            default:
                index += 1
                return .characters(ScalarSet(scalar: scalar.value))
            }
        }

        /// `( … )`, `(?: … )`, `(?<name> … )` or `(?P<name> … )`; anything else starting `(?` is refused.
        private mutating func parseGroup() throws(SyntaxError) -> Node {
            let start = index
            index += 1
            guard groupDepth < RegexGrammar.maxGroupDepth else {
                throw SyntaxError(offset: start, message: "groups nested deeper than \(RegexGrammar.maxGroupDepth)")
            }
            if peek() == "?" {
                index += 1
                switch peek() {
                case ":":
                    index += 1
                case "=", "!":
                    throw SyntaxError(offset: start, message: "lookahead assertions are not supported")
                case "<" where index + 1 < scalars.count && (scalars[index + 1] == "=" || scalars[index + 1] == "!"):
                    throw SyntaxError(offset: start, message: "lookbehind assertions are not supported")
                case "<":
                    index += 1
                    try skipGroupName(start: start)
                case "P" where index + 1 < scalars.count && scalars[index + 1] == "<":
                    index += 2
                    try skipGroupName(start: start)
                case "P" where index + 1 < scalars.count && scalars[index + 1] == "=":
                    throw SyntaxError(offset: start, message: "backreferences are not supported")
                default:
                    throw SyntaxError(offset: start, message: "unsupported group syntax '(?' (inline flags, atomic groups and conditionals are not supported)")
                }
            }
            groupDepth += 1
            let node = try parseAlternation()
            groupDepth -= 1
            guard peek() == ")" else { throw SyntaxError(offset: start, message: "unterminated group") }
            index += 1
            return node
        }

        private mutating func skipGroupName(start: Int) throws(SyntaxError) {
            let nameStart = index
            while let scalar = peek(), scalar != ">" {
                guard scalar.properties.isAlphabetic || scalar == "_" || scalar == "$" || ("0"..."9").contains(scalar) else {
                    throw SyntaxError(offset: index, message: "invalid character in a group name")
                }
                index += 1
            }
            guard peek() == ">", index > nameStart else {
                throw SyntaxError(offset: start, message: "unterminated or empty group name")
            }
            index += 1
        }

        /// `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` or `{,n}` (optionally lazy, which changes nothing here); `nil` when
        /// none follows. A `{` that does not start a valid quantifier is left as a literal.
        private mutating func parseQuantifier() throws(SyntaxError) -> (Int, Int?)? {
            let start = index
            let bounds: (Int, Int?)
            switch peek() {
            case "*": index += 1; bounds = (0, nil)
            case "+": index += 1; bounds = (1, nil)
            case "?": index += 1; bounds = (0, 1)
            case "{":
                guard let braces = try parseBraces() else { return nil }
                bounds = braces
            default: return nil
            }
            if peek() == "?" { index += 1 }
            if let next = peek() {
                var doubled = next == "*" || next == "+" || next == "?"
                if next == "{" { doubled = try quantifierAhead() }
                if doubled {
                    throw SyntaxError(offset: index, message: "nothing to repeat before '\(next)' (possessive or doubled quantifiers are not supported)")
                }
            }
            if let max = bounds.1, max < bounds.0 {
                throw SyntaxError(offset: start, message: "quantifier {\(bounds.0),\(max)} has its bounds out of order")
            }
            return bounds
        }

        /// Whether a valid `{…}` quantifier starts at the current position.
        private mutating func quantifierAhead() throws(SyntaxError) -> Bool {
            let saved = index
            defer { index = saved }
            return try parseBraces() != nil
        }

        /// Parses `{m}`, `{m,}`, `{m,n}`, `{,n}` at the current `{`; `nil` (position unchanged) if it is not one.
        private mutating func parseBraces() throws(SyntaxError) -> (Int, Int?)? {
            let start = index
            index += 1
            let min = try parseCount(start: start)
            var max: Int? = min
            if peek() == "," {
                index += 1
                max = try parseCount(start: start)
            }
            guard peek() == "}", min != nil || max != nil else {
                index = start
                return nil
            }
            index += 1
            return (min ?? 0, max)
        }

        private mutating func parseCount(start: Int) throws(SyntaxError) -> Int? {
            var value: Int?
            while let scalar = peek(), ("0"..."9").contains(scalar) {
                let digit = Int(scalar.value - 0x30)
                let next = (value ?? 0) * 10 + digit
                guard next <= RegexGrammar.maxRepetitionCount else {
                    throw SyntaxError(offset: start, message: "repetition count exceeds \(RegexGrammar.maxRepetitionCount)")
                }
                value = next
                index += 1
            }
            return value
        }

        /// A bracketed class at the current `[`.
        private mutating func parseClass() throws(SyntaxError) -> ScalarSet {
            let start = index
            index += 1
            let negated = peek() == "^"
            if negated { index += 1 }
            var set = ScalarSet.empty
            while true {
                guard let scalar = peek() else { throw SyntaxError(offset: start, message: "unterminated character class") }
                if scalar == "]" {
                    index += 1
                    break
                }
                let itemStart = index
                let low = try parseClassItem()
                if peek() == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                    index += 1
                    let high = try parseClassItem()
                    guard let lowValue = low.single, let highValue = high.single else {
                        throw SyntaxError(offset: itemStart, message: "a class escape such as \\d cannot be a range bound")
                    }
                    guard lowValue <= highValue else {
                        throw SyntaxError(offset: itemStart, message: "character range out of order")
                    }
                    set = set.union(ScalarSet([lowValue...highValue]))
                } else {
                    set = set.union(low)
                }
            }
            let result = negated ? set.complement : set
            guard !result.isEmpty else { throw SyntaxError(offset: start, message: "the character class matches nothing") }
            return result
        }

        private mutating func parseClassItem() throws(SyntaxError) -> ScalarSet {
            guard let scalar = peek() else { throw SyntaxError(offset: index, message: "unterminated character class") }
            if scalar == "\\" { return try parseEscape(inClass: true) }
            index += 1
            return ScalarSet(scalar: scalar.value)
        }

        /// The character or class an escape at the current `\` stands for.
        private mutating func parseEscape(inClass: Bool) throws(SyntaxError) -> ScalarSet {
            let start = index
            index += 1
            guard let scalar = peek() else { throw SyntaxError(offset: start, message: "'\\' at the end of the pattern") }
            index += 1
            switch scalar {
            case "d": return Self.digit
            case "D": return Self.digit.complement
            case "w": return Self.word
            case "W": return Self.word.complement
            case "s": return Self.space
            case "S": return Self.space.complement
            case "n": return ScalarSet(scalar: 0x0A)
            case "t": return ScalarSet(scalar: 0x09)
            case "r": return ScalarSet(scalar: 0x0D)
            case "f": return ScalarSet(scalar: 0x0C)
            case "v": return ScalarSet(scalar: 0x0B)
            case "b" where inClass: return ScalarSet(scalar: 0x08)
            case "0" where !(peek().map { ("0"..."9").contains($0) } ?? false): return ScalarSet(scalar: 0)
            case "x": return ScalarSet(scalar: try parseHex(count: 2, start: start))
            case "u":
                if peek() == "{" { return ScalarSet(scalar: try parseBracedHex(start: start)) }
                let value = try parseHex(count: 4, start: start)
                if (0xD800...0xDBFF).contains(value), peek() == "\\", index + 1 < scalars.count, scalars[index + 1] == "u" {
                    let saved = index
                    index += 2
                    let low = try parseHex(count: 4, start: saved)
                    if (0xDC00...0xDFFF).contains(low) {
                        return ScalarSet(scalar: 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00))
                    }
                    index = saved
                }
                guard !(0xD800...0xDFFF).contains(value) else {
                    throw SyntaxError(offset: start, message: "a lone surrogate cannot be matched")
                }
                return ScalarSet(scalar: value)
            case "b", "B":
                throw SyntaxError(offset: start, message: "word-boundary assertions (\\\(scalar)) are not supported")
            case "1"..."9":
                throw SyntaxError(offset: start, message: "backreferences are not supported")
            case "k":
                throw SyntaxError(offset: start, message: "named backreferences are not supported")
            case "p", "P":
                throw SyntaxError(offset: start, message: "Unicode property escapes (\\\(scalar){…}) are not supported")
            default:
                if scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) {
                    throw SyntaxError(offset: start, message: "unknown escape '\\\(scalar)'")
                }
                return ScalarSet(scalar: scalar.value)
            }
        }

        private mutating func parseHex(count: Int, start: Int) throws(SyntaxError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let scalar = peek(), let digit = Self.hexValue(scalar) else {
                    throw SyntaxError(offset: start, message: "expected \(count) hex digits in the escape")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        /// `\u{…}` after the `u`.
        private mutating func parseBracedHex(start: Int) throws(SyntaxError) -> UInt32 {
            index += 1
            var value: UInt32 = 0
            var digits = 0
            while let scalar = peek(), let digit = Self.hexValue(scalar) {
                value = value << 4 | digit
                digits += 1
                index += 1
                guard digits <= 6 else { break }
            }
            guard peek() == "}", digits > 0, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else {
                throw SyntaxError(offset: start, message: "invalid \\u{…} escape")
            }
            index += 1
            return value
        }

        private static func hexValue(_ scalar: Unicode.Scalar) -> UInt32? {
            switch scalar.value {
            case 0x30...0x39: scalar.value - 0x30
            case 0x41...0x46: scalar.value - 0x41 + 10
            case 0x61...0x66: scalar.value - 0x61 + 10
            default: nil
            }
        }

        private func peek() -> Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        // ECMAScript's classes.
        static let digit = ScalarSet([0x30...0x39])
        static let word = ScalarSet([0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
        static let space = ScalarSet([
            0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029,
            0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF,
        ])
        /// `.`: anything but a line terminator.
        static let dot = ScalarSet([0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029]).complement
    }
}

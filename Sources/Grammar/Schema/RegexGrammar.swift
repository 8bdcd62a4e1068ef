/// Regular expressions compiled to GBNF.
///
/// The dialect is the ECMAScript subset JSON Schema patterns use: literals; escapes `\. \\ \/ \n \t \r \f \v \0`
/// and other escaped punctuation, `\d \D \w \W \s \S`, `\xNN`, `\uNNNN` (surrogate pairs too), `\u{N…}`; `.` (any
/// character but a line terminator); bracketed classes with ranges, negation and escapes; groups `( )`, `(?: )`,
/// `(?<name> )`, `(?P<name> )` (all matched as plain groups); `|`; quantifiers `* + ? {m} {m,} {m,n} {,n}` with an
/// optional lazy `?` (laziness does not change which strings match). `^` is accepted only at the start of a top-level
/// alternative and `$` only at its end.
///
/// Refused with the offending character offset: backreferences, lookaround, word boundaries, Unicode property
/// escapes, inline flags, possessive quantifiers, counts above 10 000.
public enum RegexGrammar {
    /// GBNF whose root matches exactly the strings the regular expression matches as a whole: `^` and `$` change
    /// nothing, `abc` matches only `abc`.
    ///
    /// - Throws: `GrammarError` located at `offset N` (in Unicode scalars) for what the dialect does not support or
    ///   cannot parse, or when the grammar would exceed 1 MiB.
    public static func gbnf(pattern: String) throws(GrammarError) -> String {
        let branches = try parse(pattern) { offset, message in GrammarError(location: "offset \(offset)", message: message) }
        var rules = GBNFSynthesis.Rules(maxBytes: 1 << 20)
        let root = rules.reserve("root")
        var renderer = Renderer(encoding: .raw, hint: "root", location: "")
        var alternatives: [GBNFSynthesis.Fragment] = []
        for branch in branches {
            alternatives.append(try renderer.fragment(branch.node, rules: &rules))
        }
        try rules.define(root, as: GBNFSynthesis.alternation(alternatives).ruleBody)
        return try rules.text()
    }

    /// The content of a JSON string (the text between the quotes) whose decoded value `pattern` matches with JSON
    /// Schema's search semantics: a top-level alternative without `^` may be preceded by anything, one without `$`
    /// followed by anything. Characters JSON must escape appear escaped (`\"`, `\\`, `\n`, `\u001f`, …; one spelling
    /// each), so every string the fragment matches is valid JSON text.
    static func jsonStringContent(
        pattern: String, hint: String, location: String, rules: inout GBNFSynthesis.Rules
    ) throws(GrammarError) -> GBNFSynthesis.Fragment {
        let branches = try parse(pattern) { offset, message in
            GrammarError(location: location, message: "\(message) (at offset \(offset) of the pattern)")
        }
        var renderer = Renderer(encoding: .jsonString, hint: hint, location: location)
        let anything = GBNFSynthesis.repeated(rules.builtin(.char), min: 0, max: nil)
        var alternatives: [GBNFSynthesis.Fragment] = []
        for branch in branches {
            let body = try renderer.fragment(branch.node, rules: &rules)
            if body.form == .empty && !(branch.anchoredAtStart && branch.anchoredAtEnd) {
                alternatives.append(anything)
            } else {
                alternatives.append(GBNFSynthesis.sequence([
                    branch.anchoredAtStart ? .empty : anything, body, branch.anchoredAtEnd ? .empty : anything,
                ]))
            }
        }
        return GBNFSynthesis.alternation(alternatives)
    }

    private static func parse(
        _ pattern: String, error: (Int, String) -> GrammarError
    ) throws(GrammarError) -> [Branch] {
        do throws(SyntaxError) {
            var parser = Parser(pattern)
            return try parser.parse()
        } catch let syntaxError {
            throw error(syntaxError.offset, syntaxError.message)
        }
    }

    /// Writes parsed nodes as GBNF, either matching the characters themselves (`raw`) or their spelling inside a JSON
    /// string (`jsonString`).
    struct Renderer {
        enum Encoding { case raw, jsonString }

        /// A bound on the total of repetition counts, which is what the GBNF parser's expansion of `x{m,n}` costs.
        static let maxExpansion = 100_000

        let encoding: Encoding
        let hint: String
        let location: String
        private var expansion = 0
        /// Sets already written, since patterns tend to repeat theirs (`[^\s]` ten times).
        private var writtenSets: [ScalarSet: Fragment] = [:]

        init(encoding: Encoding, hint: String, location: String) {
            self.encoding = encoding
            self.hint = hint
            self.location = location
        }

        typealias Fragment = GBNFSynthesis.Fragment

        mutating func fragment(_ node: Node, rules: inout GBNFSynthesis.Rules) throws(GrammarError) -> Fragment {
            switch node {
            case .empty:
                return .empty
            case .characters(let set):
                if let written = writtenSets[set] { return written }
                let written = try characters(set, rules: &rules)
                writtenSets[set] = written
                return written
            case .sequence(let items):
                var parts: [Fragment] = []
                var literal = ""
                for item in items {
                    if case .characters(let set) = item, let value = set.single, let scalar = Unicode.Scalar(value) {
                        literal.unicodeScalars.append(scalar)
                        continue
                    }
                    if !literal.isEmpty { parts.append(literalFragment(literal)) }
                    literal = ""
                    parts.append(try fragment(item, rules: &rules))
                }
                if !literal.isEmpty { parts.append(literalFragment(literal)) }
                return GBNFSynthesis.sequence(parts)
            case .alternation(let alternatives):
                var fragments: [Fragment] = []
                for alternative in alternatives {
                    fragments.append(try fragment(alternative, rules: &rules))
                }
                return GBNFSynthesis.alternation(fragments)
            case .repetition(var item, var min, let max):
                if max == 0 { return .empty }
                if max == nil && item.isNullable {
                    guard let body = item.loopBody else { return .empty }
                    item = body
                    min = 0
                }
                let inner = try fragment(item, rules: &rules)
                if inner.form == .empty { return .empty }
                let copies = max ?? min
                expansion += Swift.max(copies, 1)
                guard expansion <= Self.maxExpansion else {
                    throw GrammarError(
                        location: location,
                        message: "the pattern's repetitions add up to more than \(Self.maxExpansion) copies")
                }
                // A non-atom repeated more than once becomes a rule, so the expansion copies a name, not the text.
                let operand = copies > 1 ? try atom(inner, rules: &rules) : inner
                return GBNFSynthesis.repeated(operand, min: min, max: max)
            }
        }

        private func literalFragment(_ text: String) -> Fragment {
            switch encoding {
            case .raw: return .literal(text)
            case .jsonString: return .literal(text.unicodeScalars.map(JSONValue.escaped).joined())
            }
        }

        private func characters(_ set: ScalarSet, rules: inout GBNFSynthesis.Rules) throws(GrammarError) -> Fragment {
            if let value = set.single, let scalar = Unicode.Scalar(value) {
                return literalFragment(String(Character(scalar)))
            }
            guard encoding == .jsonString else { return .atom(GBNFSynthesis.characterClass(set)) }
            if set.isAll { return rules.builtin(.char) }
            let raw = set.intersection(.jsonRaw)
            let escaped = set.subtracting(.jsonRaw)
            guard !escaped.isEmpty else { return .atom(GBNFSynthesis.characterClass(raw)) }
            var alternatives: [Fragment] = []
            if !raw.isEmpty { alternatives.append(.atom(GBNFSynthesis.characterClass(raw))) }
            alternatives.append(Self.escapeSequences(escaped))
            return try atom(GBNFSynthesis.alternation(alternatives), rules: &rules, suffix: "-char")
        }

        /// How JSON spells the characters of `set` (all of which it must escape): `\"`, `\\`, `\b \f \n \r \t`, and
        /// `\u00xx` (lowercase hex) for the other controls and DEL.
        private static func escapeSequences(_ set: ScalarSet) -> Fragment {
            let short: [(UInt32, String)] = [
                (0x22, "\""), (0x5C, "\\\\"), (0x08, "b"), (0x0C, "f"), (0x0A, "n"), (0x0D, "r"), (0x09, "t"),
            ]
            let shortLetters = short.filter { set.contains($0.0) }.map(\.1).joined()
            var unicode: [Fragment] = []
            for high: UInt32 in [0, 1] {
                let lows = (0...UInt32(15)).filter { low in
                    let value = high << 4 | low
                    return set.contains(value) && !short.contains { $0.0 == value }
                }
                guard !lows.isEmpty else { continue }
                let digits = ScalarSet(lows.map { String($0, radix: 16) }.joined())
                let low: Fragment = lows.count == 1
                    ? .literal(String(lows[0], radix: 16)) : .atom(GBNFSynthesis.characterClass(digits))
                unicode.append(GBNFSynthesis.sequence([.literal(String(high)), low]))
            }
            if set.contains(0x7F) { unicode.append(.literal("7f")) }
            var alternatives: [Fragment] = []
            if !shortLetters.isEmpty { alternatives.append(.atom("[" + shortLetters + "]")) }
            if !unicode.isEmpty {
                alternatives.append(GBNFSynthesis.sequence([.literal("u00"), GBNFSynthesis.alternation(unicode)]))
            }
            return GBNFSynthesis.sequence([.literal("\\"), GBNFSynthesis.alternation(alternatives)])
        }

        private func atom(
            _ fragment: Fragment, rules: inout GBNFSynthesis.Rules, suffix: String = "-repeat"
        ) throws(GrammarError) -> Fragment {
            do throws(GrammarError) {
                return try rules.atom(fragment, hint: hint + suffix)
            } catch let error {
                throw GrammarError(location: location, message: error.message)
            }
        }
    }
}

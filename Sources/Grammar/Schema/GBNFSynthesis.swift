/// Writing GBNF text (llama.cpp's dialect): expression fragments, literal and character-class escaping, and a rule set
/// that names, shares and bounds the rules the JSON Schema and regular-expression converters produce.
///
/// The text written here uses only the escapes `\n \t \" \\ \xNN \uNNNN`; characters above U+FFFF are written as
/// themselves (UTF-8). Inside character classes `[ ] - ^ \` are always escaped, so a class never depends on where a
/// character sits in it.
enum GBNFSynthesis {
    /// A GBNF expression and how tightly it binds, so that callers add parentheses only where they are needed.
    struct Fragment: Equatable {
        enum Form: Equatable {
            /// Matches only the empty string; contributes nothing to a sequence.
            case empty
            /// A rule name, literal, character class or parenthesized group: can take a repetition operator.
            case atom
            /// Items separated by spaces (a repeated item included): fine inside a sequence or an alternation.
            case sequence
            /// Alternatives separated by `|`: needs parentheses inside a sequence.
            case alternation
        }

        var text: String
        var form: Form

        static let empty = Fragment(text: "", form: .empty)

        static func atom(_ text: String) -> Fragment { Fragment(text: text, form: .atom) }

        static func literal(_ text: String) -> Fragment { .atom(GBNFSynthesis.literal(text)) }

        /// The text as an item of a sequence.
        var sequenceItem: String { form == .alternation ? "( \(text) )" : text }

        /// The text as the operand of a repetition operator.
        var parenthesized: String { form == .atom ? text : "( \(text) )" }

        /// The text as a whole rule body (`""` for the empty string).
        var ruleBody: String { form == .empty ? "\"\"" : text }
    }

    /// `parts` one after another; empty parts are dropped.
    static func sequence(_ parts: [Fragment]) -> Fragment {
        let items = parts.filter { $0.form != .empty }
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return Fragment(text: items.map(\.sequenceItem).joined(separator: " "), form: .sequence)
        }
    }

    /// Any one of `alternatives` (duplicates dropped, order kept). An empty alternative makes the rest optional.
    static func alternation(_ alternatives: [Fragment]) -> Fragment {
        var seen: Set<String> = []
        var items: [Fragment] = []
        var hasEmpty = false
        for alternative in alternatives {
            if alternative.form == .empty {
                hasEmpty = true
            } else if seen.insert(alternative.text).inserted {
                items.append(alternative)
            }
        }
        let choice: Fragment
        switch items.count {
        case 0: return .empty
        case 1: choice = items[0]
        default: choice = Fragment(text: items.map(\.text).joined(separator: " | "), form: .alternation)
        }
        return hasEmpty ? repeated(choice, min: 0, max: 1) : choice
    }

    /// `fragment` repeated `min...max` times (`max == nil`: no upper bound), with the shortest operator that says so.
    /// Callers that repeat a non-atom more than once should first make it a rule (see `Rules.atom`), so that the
    /// repetition's expansion copies a rule reference rather than the expression.
    static func repeated(_ fragment: Fragment, min: Int, max: Int?) -> Fragment {
        if fragment.form == .empty || max == 0 { return .empty }
        if min == 1 && max == 1 { return fragment }
        let operand = fragment.parenthesized
        let suffix: String
        switch (min, max) {
        case (0, 1): suffix = "?"
        case (0, nil): suffix = "*"
        case (1, nil): suffix = "+"
        case (_, nil): suffix = "{\(min),}"
        case (_, let max?) where max == min: suffix = "{\(min)}"
        case (_, let max?): suffix = "{\(min),\(max)}"
        }
        return Fragment(text: operand + suffix, form: .sequence)
    }

    // MARK: - Escaping

    /// A GBNF string literal (quotes included) matching exactly `text`.
    static func literal(_ text: String) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: output += "\\\""
            case 0x5C: output += "\\\\"
            default: output += escapedOutsideASCIIPrintables(scalar.value)
            }
        }
        return output + "\""
    }

    /// How a character class writes the code point `value`.
    static func classItem(_ value: UInt32) -> String {
        switch value {
        case 0x5C: "\\\\"
        case 0x5B, 0x5D, 0x2D, 0x5E, 0x20: "\\x" + hex(value, digits: 2)
        default: escapedOutsideASCIIPrintables(value)
        }
    }

    /// Printable ASCII and visible characters as themselves; `\n`, `\t`, other controls as `\xNN`; invisible BMP
    /// characters (controls, format characters, separators, combining marks, unassigned) as `\uNNNN`.
    private static func escapedOutsideASCIIPrintables(_ value: UInt32) -> String {
        switch value {
        case 0x0A: return "\\n"
        case 0x09: return "\\t"
        case 0x00..<0x20, 0x7F: return "\\x" + hex(value, digits: 2)
        case 0x20..<0x7F: return String(UnicodeScalar(UInt8(value)))
        default:
            guard let scalar = Unicode.Scalar(value) else { return "\\u" + hex(value, digits: 4) }
            switch scalar.properties.generalCategory {
            case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator, .nonspacingMark,
                 .spacingMark, .enclosingMark, .unassigned, .privateUse, .surrogate:
                if value <= 0xFFFF { return "\\u" + hex(value, digits: 4) }
            default:
                break
            }
            return String(Character(scalar))
        }
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// A GBNF character class (or `.`) matching one character of `set`, which must not be empty. Written positively
    /// or negated, whichever needs fewer ranges.
    static func characterClass(_ set: ScalarSet) -> String {
        if set.isAll { return "." }
        let complement = set.complement
        let negated = complement.ranges.count < set.ranges.count
        var output = negated ? "[^" : "["
        for range in (negated ? complement : set).ranges {
            output += classItem(range.lowerBound)
            if range.upperBound == range.lowerBound + 1 {
                output += classItem(range.upperBound)
            } else if range.upperBound != range.lowerBound {
                output += "-" + classItem(range.upperBound)
            }
        }
        return output + "]"
    }

    /// Turns `hint` (a property or definition name) into a GBNF rule name: runs of characters outside `[a-zA-Z0-9-]`
    /// become `-`, at most 48 characters.
    static func ruleName(_ hint: String) -> String {
        var name = ""
        var lastWasDash = false
        for scalar in hint.unicodeScalars {
            switch scalar.value {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D:
                name.unicodeScalars.append(scalar)
                lastWasDash = scalar == "-"
            default:
                if !lastWasDash { name += "-" }
                lastWasDash = true
            }
            if name.utf8.count >= 48 { break }
        }
        return name.isEmpty || name == "-" ? "rule" : name
    }

    // MARK: - Rule set

    /// The rules of one grammar, in the order they were first named: `root` first, then each rule as the converters
    /// create it. Names are unique, identical bodies share one rule, and the total size is bounded.
    struct Rules {
        private var order: [String] = []
        private var bodies: [String: String] = [:]
        private var nameByBody: [String: String] = [:]
        private var taken: Set<String>
        private var byteCount = 0
        let maxBytes: Int

        init(maxBytes: Int) {
            self.maxBytes = maxBytes
            taken = Set(Builtin.allCases.map(\.rawValue))
        }

        /// A fresh rule name derived from `hint`, listed now and defined later with `define` (for rules that may refer
        /// to themselves, such as schema definitions).
        mutating func reserve(_ hint: String) -> String {
            let base = GBNFSynthesis.ruleName(hint)
            var name = base
            var suffix = 1
            while taken.contains(name) {
                suffix += 1
                name = "\(base)-\(suffix)"
            }
            taken.insert(name)
            order.append(name)
            return name
        }

        /// Sets the body of a rule named by `reserve`.
        mutating func define(_ name: String, as body: String) throws(GrammarError) {
            bodies[name] = body
            byteCount += name.utf8.count + body.utf8.count + 5
            guard byteCount <= maxBytes else {
                throw GrammarError(location: "", message: "the grammar would be larger than \(maxBytes) bytes (maxGrammarBytes)")
            }
        }

        /// The name of a rule with `body`: an existing rule with the same body, or a new one named after `hint`.
        mutating func add(_ hint: String, body: String) throws(GrammarError) -> String {
            if let existing = nameByBody[body] { return existing }
            let name = reserve(hint)
            try define(name, as: body)
            nameByBody[body] = name
            return name
        }

        /// `fragment` as an atom: itself when it already is one, else a reference to a rule with its text.
        mutating func atom(_ fragment: Fragment, hint: String) throws(GrammarError) -> Fragment {
            switch fragment.form {
            case .atom, .empty: fragment
            case .sequence, .alternation: .atom(try add(hint, body: fragment.text))
            }
        }

        /// A reference to the builtin rule, which is added (with the builtins it uses) the first time.
        mutating func builtin(_ rule: Builtin) -> Fragment {
            if bodies[rule.rawValue] == nil {
                order.append(rule.rawValue)
                bodies[rule.rawValue] = rule.body
                nameByBody[rule.body] = rule.rawValue
                byteCount += rule.rawValue.utf8.count + rule.body.utf8.count + 5
                for dependency in rule.dependencies { _ = builtin(dependency) }
            }
            return .atom(rule.rawValue)
        }

        /// The grammar text, one rule a line, checked against `maxBytes`.
        func text() throws(GrammarError) -> String {
            var output = ""
            output.reserveCapacity(byteCount)
            for name in order {
                output += name + " ::= " + (bodies[name] ?? "\"\"") + "\n"
            }
            guard output.utf8.count <= maxBytes else {
                throw GrammarError(location: "", message: "the grammar would be larger than \(maxBytes) bytes (maxGrammarBytes)")
            }
            return output
        }
    }
}

extension JSONSchemaGrammar.Converter {
    typealias Builtin = GBNFSynthesis.Builtin
    typealias DecimalNumber = JSONSchemaGrammar.DecimalNumber
    typealias IntegerRanges = JSONSchemaGrammar.IntegerRanges

    /// A supported `format`: the rule for its string content and how long that content can be.
    private struct StringFormat {
        var name: String
        var rule: Builtin
        var minLength: Int
        var maxLength: Int?
    }

    private static let formats: [StringFormat] = [
        StringFormat(name: "date", rule: .date, minLength: 10, maxLength: 10),
        StringFormat(name: "time", rule: .time, minLength: 9, maxLength: 24),
        StringFormat(name: "date-time", rule: .dateTime, minLength: 20, maxLength: 35),
        StringFormat(name: "duration", rule: .duration, minLength: 3, maxLength: nil),
        StringFormat(name: "uuid", rule: .uuid, minLength: 36, maxLength: 36),
        StringFormat(name: "email", rule: .email, minLength: 5, maxLength: nil),
        StringFormat(name: "hostname", rule: .hostname, minLength: 1, maxLength: nil),
        StringFormat(name: "ipv4", rule: .ipv4, minLength: 7, maxLength: 15),
        StringFormat(name: "ipv6", rule: .ipv6, minLength: 2, maxLength: 45),
        StringFormat(name: "uri", rule: .uri, minLength: 2, maxLength: nil),
    ]

    // MARK: - Strings

    mutating func string(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
        let minLength = try schema.count("minLength") ?? 0
        let maxLength = try schema.count("maxLength")
        if let maxLength, minLength > maxLength {
            throw context.error("minLength (\(minLength)) is larger than maxLength (\(maxLength))", at: "minLength")
        }
        let quote = Fragment.literal("\"")
        if let pattern = schema["pattern"] {
            guard case .string(let text) = pattern else { throw context.error("pattern must be a string", at: "pattern") }
            guard schema["format"] == nil else {
                throw context.error("format together with pattern is not supported", at: "format")
            }
            guard minLength == 0 && maxLength == nil else {
                throw context.error(
                    "minLength/maxLength together with pattern are not supported; put the length into the pattern ({m,n})",
                    at: maxLength != nil ? "maxLength" : "minLength")
            }
            let content = try RegexGrammar.jsonStringContent(
                pattern: text, hint: context.hint, location: context.pointer + "/pattern", rules: &rules)
            return GBNFSynthesis.sequence([quote, content, quote])
        }
        if let format = schema["format"] {
            return try formatted(format, minLength: minLength, maxLength: maxLength, context)
        }
        if minLength == 0 && maxLength == nil { return rules.builtin(.string) }
        return GBNFSynthesis.sequence([
            quote, GBNFSynthesis.repeated(rules.builtin(.char), min: minLength, max: maxLength), quote,
        ])
    }

    private mutating func formatted(
        _ format: JSONValue, minLength: Int, maxLength: Int?, _ context: Context
    ) throws(GrammarError) -> Fragment {
        let supported = Self.formats.map(\.name).joined(separator: ", ")
        guard case .string(let name) = format else { throw context.error("format must be a string", at: "format") }
        guard let entry = Self.formats.first(where: { $0.name == name }) else {
            throw context.error("unsupported format \"\(name)\"; supported: \(supported)", at: "format")
        }
        let quote = Fragment.literal("\"")
        let impliesMinimum = minLength <= entry.minLength
        let impliesMaximum = maxLength.map { maximum in entry.maxLength.map { maximum >= $0 } ?? false } ?? true
        if impliesMinimum && impliesMaximum {
            let body = GBNFSynthesis.sequence([quote, rules.builtin(entry.rule), quote])
            return try atom(body, hint: "\(name)-string", context)
        }
        if entry.rule == .uri, impliesMinimum, let maxLength, maxLength >= entry.minLength {
            // Every string matched fits maxLength, at the price of a few valid URIs: the scheme may take a quarter of
            // it (at most 31 characters), and the rest what is left in plain URI characters, or a third of that when
            // it has `%XX` escapes.
            let schemeTail = Swift.min(30, (maxLength - 2) / 4)
            let rest = maxLength - 2 - schemeTail
            let plain = rules.builtin(.uriCharacter)
            let escaped = GBNFSynthesis.alternation([
                plain, GBNFSynthesis.sequence([.literal("%"), GBNFSynthesis.repeated(.atom("[0-9a-fA-F]"), min: 2, max: 2)]),
            ])
            let unit = try atom(escaped, hint: "uri-unit", context)
            return GBNFSynthesis.sequence([
                quote, .atom("[a-zA-Z]"),
                GBNFSynthesis.repeated(.atom(#"[a-zA-Z0-9+.\x2D]"#), min: 0, max: schemeTail), .literal(":"),
                GBNFSynthesis.alternation([
                    GBNFSynthesis.repeated(plain, min: 0, max: rest),
                    GBNFSynthesis.repeated(unit, min: 0, max: rest / 3),
                ]),
                quote,
            ])
        }
        let lengths = entry.maxLength.map { "\(entry.minLength) to \($0)" } ?? "at least \(entry.minLength)"
        throw context.error(
            "minLength/maxLength together with format \"\(name)\" are not supported (its strings are \(lengths) characters long)",
            at: impliesMinimum ? "maxLength" : "minLength")
    }

    // MARK: - Numbers

    /// draft-04's `"exclusiveMinimum": true`, which makes `minimum` exclusive (likewise for the maximum).
    private static func draft4Flag(_ schema: Keywords, _ key: String) -> Bool {
        if case .bool(let flag)? = schema[key] { flag } else { false }
    }

    /// The value of a numeric bound keyword (`nil` when absent or in its draft-04 Boolean form).
    private func numericBound(_ schema: Keywords, _ key: String) throws(GrammarError) -> DecimalNumber? {
        guard let value = schema[key] else { return nil }
        if case .bool = value, key.hasPrefix("exclusive") { return nil }  // draft-04 form, read with its bound
        guard case .number(let text) = value, let number = DecimalNumber(text) else {
            throw schema.context.error("\(key) must be a number", at: key)
        }
        return number
    }

    private func integerValue(
        _ number: DecimalNumber, rounding: DecimalNumber.Rounding, _ schema: Keywords, _ key: String
    ) throws(GrammarError) -> Int {
        guard let value = number.integer(rounding: rounding) else {
            throw schema.context.error("\(key) is out of the supported range (±9.2e18)", at: key)
        }
        return value
    }

    mutating func integer(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
        var lower: Int?
        var upper: Int?
        let exclusiveMinimumFlag = Self.draft4Flag(schema, "exclusiveMinimum")
        let exclusiveMaximumFlag = Self.draft4Flag(schema, "exclusiveMaximum")
        if let minimum = try numericBound(schema, "minimum") {
            lower = exclusiveMinimumFlag
                ? try integerValue(minimum, rounding: .down, schema, "minimum") + 1
                : try integerValue(minimum, rounding: .up, schema, "minimum")
        }
        if let exclusive = try numericBound(schema, "exclusiveMinimum") {
            let value = try integerValue(exclusive, rounding: .down, schema, "exclusiveMinimum") + 1
            lower = Swift.max(lower ?? value, value)
        }
        if let maximum = try numericBound(schema, "maximum") {
            upper = exclusiveMaximumFlag
                ? try integerValue(maximum, rounding: .up, schema, "maximum") - 1
                : try integerValue(maximum, rounding: .down, schema, "maximum")
        }
        if let exclusive = try numericBound(schema, "exclusiveMaximum") {
            let value = try integerValue(exclusive, rounding: .up, schema, "exclusiveMaximum") - 1
            upper = Swift.min(upper ?? value, value)
        }
        if lower == nil && upper == nil { return rules.builtin(.integer) }
        if let lower, let upper, lower > upper {
            throw context.error("no integer satisfies the bounds (\(lower) > \(upper))", at: schema["minimum"] != nil ? "minimum" : "exclusiveMinimum")
        }
        return IntegerRanges.integers(min: lower, max: upper)
    }

    /// A number between integer-valued bounds, written without exponent; without bounds, any JSON number.
    mutating func number(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
        typealias Bound = (value: Int, exclusive: Bool)
        func integerBound(_ key: String, exclusive: Bool) throws(GrammarError) -> Bound? {
            guard let number = try numericBound(schema, key) else { return nil }
            guard number.isInteger else {
                throw context.error(
                    "\(key) must be an integer for type number (non-integer bounds are not supported)", at: key)
            }
            return (try integerValue(number, rounding: .down, schema, key), exclusive)
        }
        let exclusiveMinimumFlag = Self.draft4Flag(schema, "exclusiveMinimum")
        let exclusiveMaximumFlag = Self.draft4Flag(schema, "exclusiveMaximum")
        // The tighter of each pair; at equal values the exclusive one.
        var lower = try integerBound("minimum", exclusive: exclusiveMinimumFlag)
        if let bound = try integerBound("exclusiveMinimum", exclusive: true),
           lower.map({ bound.value >= $0.value }) ?? true
        {
            lower = bound
        }
        var upper = try integerBound("maximum", exclusive: exclusiveMaximumFlag)
        if let bound = try integerBound("exclusiveMaximum", exclusive: true),
           upper.map({ bound.value <= $0.value }) ?? true
        {
            upper = bound
        }
        if lower == nil && upper == nil { return rules.builtin(.number) }

        var alternatives: [Fragment] = []
        // Negative numbers: -m with m > 0.
        if lower.map({ $0.value < 0 }) ?? true {
            let magnitudeLower: Bound = upper.map { $0.value < 0 ? (-$0.value, $0.exclusive) : (0, true) } ?? (0, true)
            let magnitudeUpper: Bound? = lower.map { (-$0.value, $0.exclusive) }
            if let magnitudes = IntegerRanges.magnitudes(above: magnitudeLower, below: magnitudeUpper) {
                alternatives.append(GBNFSynthesis.sequence([.literal("-"), magnitudes]))
            }
        }
        // Non-negative numbers.
        if upper.map({ $0.value > 0 || ($0.value == 0 && !$0.exclusive) }) ?? true {
            let magnitudeLower: Bound = lower.map { $0.value < 0 ? (0, false) : $0 } ?? (0, false)
            if let magnitudes = IntegerRanges.magnitudes(above: magnitudeLower, below: upper) {
                alternatives.append(magnitudes)
            }
        }
        guard !alternatives.isEmpty else {
            throw context.error("no number satisfies the bounds", at: lower != nil ? (schema["minimum"] != nil ? "minimum" : "exclusiveMinimum") : "maximum")
        }
        return GBNFSynthesis.alternation(alternatives)
    }
}

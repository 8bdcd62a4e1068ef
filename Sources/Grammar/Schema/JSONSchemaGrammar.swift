/// Limits on what `JSONSchemaGrammar.gbnf(schema:options:)` accepts and produces.
public struct JSONGrammarOptions: Sendable, Equatable {
    /// How deeply schemas may nest (a property's schema is one level below its object's, and so on).
    public var maxDepth = 64
    /// The largest GBNF text the conversion may produce, in bytes.
    public var maxGrammarBytes = 1 << 20

    public init() {}
}

/// JSON Schema compiled to GBNF (llama.cpp's grammar dialect, root rule `root`) for JSON texts that validate against
/// the schema: what OpenAI's `response_format: {"type": "json_schema"}`, llama.cpp and xgrammar constrain output with.
///
/// The grammar's language is a subset of the valid documents, chosen so that a model writes one canonical form:
///
/// - **Whitespace.** Between tokens (after `{ [ , :`, around keys and after values, never before the document or
///   after it) the `ws` rule allows nothing, one space, or one or two newlines followed by up to 20 spaces or tabs —
///   llama.cpp's `SPACE_RULE`. It is bounded so that a model cannot loop on whitespace.
/// - **Objects.** Properties appear in the schema's order. Those in `required` must appear; the others may be left
///   out. With `additionalProperties` unspecified or `false`, no other keys are allowed (what OpenAI's strict mode
///   and llama.cpp do; JSON Schema itself would allow any) — except that a schema with none of `properties`,
///   `required`, `additionalProperties` (`{"type": "object"}`) means any object. With `true` or a schema, further
///   members, whose keys are strings other than the listed properties, may follow the listed ones.
///   `unevaluatedProperties` is accepted only as `false` (the default here).
/// - **Arrays.** `items`, `prefixItems` (a tuple, all of it required unless `minItems` says fewer; without `items`,
///   or with `items: false`, no items beyond it), `minItems`, `maxItems`.
/// - **Strings.** Characters JSON must escape appear escaped; `minLength`/`maxLength` count characters (an escape
///   sequence is one character); `pattern` (see `RegexGrammar`; unanchored patterns search, as JSON Schema says);
///   `format` is one of `date`, `time`, `date-time` (RFC 3339 with `T`, `Z` and a required offset; real calendar
///   dates, February 29 in leap years only), `duration`, `uuid`, `email`, `hostname`, `ipv4`, `ipv6`, `uri` (scheme,
///   `:`, URI characters). `format` with `pattern`, `pattern` with length bounds, or `format` with length bounds its
///   own lengths do not already satisfy are refused — except `uri` with `maxLength`, as Pydantic's `HttpUrl` has:
///   the scheme may then take a quarter of it (at most 31 characters), and `%XX` escapes count three each.
/// - **Numbers.** JSON number syntax with at most 16 integer digits, 16 fraction digits and 3 exponent digits (as
///   llama.cpp). `integer` with `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum` (any values, also the
///   draft-04 Boolean `exclusive…` forms) is exact, digit by digit. `number` accepts integer-valued bounds only; a
///   bounded number is written without an exponent. `-0` is never produced where a bound applies.
/// - **Combinators.** `anyOf` and `oneOf` (as `anyOf`; sibling keywords are merged into every alternative); `allOf`
///   and `$ref` with sibling keywords are merged into one schema (`properties` and `required` combine, `type`
///   intersects, any other keyword given twice must be equal); `$ref` to `#`, `#/$defs/…`, `#/definitions/…` or any
///   local JSON pointer: each referenced schema is one named rule, so recursive schemas work. `enum` and `const`
///   match the values' compact JSON text (keeping the values of the schema's `type`, if any; other keywords beside
///   them are not applied). `nullable: true` (OpenAPI 3.0) adds `null`.
/// - **No `type`.** The type comes from the keywords present (`properties` means an object, `items` an array, and so
///   on, like llama.cpp and xgrammar); with none of them, any JSON value.
///
/// Annotations are ignored: `title`, `description`, `examples`, `default`, `$schema`, `$id`, `$comment`,
/// `deprecated`, `readOnly`, `writeOnly`, `discriminator`, `strict`. Every other keyword — `uniqueItems: true`,
/// `multipleOf`, `patternProperties`, `minProperties`, `not`, `if`, … — is refused with a `GrammarError` located at
/// its JSON pointer (`/properties/tags/uniqueItems`), never silently ignored. Conversion is deterministic: the same
/// schema text gives the same grammar text.
public enum JSONSchemaGrammar {
    /// GBNF (root rule `root`) for JSON texts that validate against `schema` (the schema as JSON text).
    ///
    /// - Throws: `GrammarError` located at a `line L, column C` of `schema` when it is not JSON, else at the JSON
    ///   pointer of the unsupported or invalid part (`""` for the whole schema).
    public static func gbnf(schema: String, options: JSONGrammarOptions = .init()) throws(GrammarError) -> String {
        let parseDepth = options.maxDepth >= Int.max / 8 ? Int.max : Swift.max(0, options.maxDepth) * 4 + 16
        let value = try JSONValue(parsing: schema, maxDepth: parseDepth)
        var converter = Converter(root: value, options: options)
        return try converter.grammar()
    }

    /// GBNF for any JSON object (OpenAI `response_format: {"type": "json_object"}`).
    public static let anyObject: String = builtinGrammar(.object)

    /// GBNF for any JSON value.
    public static let anyValue: String = builtinGrammar(.value)

    private static func builtinGrammar(_ builtin: GBNFSynthesis.Builtin) -> String {
        var rules = GBNFSynthesis.Rules(maxBytes: Int.max)
        let root = rules.reserve("root")
        let body = rules.builtin(builtin)
        try? rules.define(root, as: body.text)
        return (try? rules.text()) ?? ""
    }

    typealias Fragment = GBNFSynthesis.Fragment
    typealias Members = [(key: String, value: JSONValue)]

    /// Where a schema is being converted.
    struct Context {
        /// The JSON pointer of the schema.
        var pointer: String
        /// The name rules made for this schema are derived from.
        var hint: String
        var depth: Int
        /// The `$ref` key of the definition whose rule this schema begins, as long as nothing precedes it in that
        /// rule: a reference from here to that definition would be left recursion.
        var leadingDefinition: String?

        /// A subschema at `segments` below this one; `consuming` when JSON text (a `[`, `{`, key…) precedes it.
        func child(_ segments: String..., hint childHint: String, consuming: Bool) -> Context {
            Context(
                pointer: segments.reduce(pointer) { $0 + "/" + JSONSchemaGrammar.escapePointerToken($1) },
                hint: childHint, depth: depth + 1, leadingDefinition: consuming ? nil : leadingDefinition)
        }

        /// The hint for a part named `name`: `name` itself directly under the root, else prefixed with this hint.
        func hint(_ name: String) -> String {
            let startsWithLetter = name.unicodeScalars.first.map { $0.properties.isAlphabetic } ?? false
            return hint == "root" && startsWithLetter ? name : hint + "-" + name
        }

        func error(_ message: String, at keyword: String? = nil) -> GrammarError {
            GrammarError(
                location: keyword.map { pointer + "/" + JSONSchemaGrammar.escapePointerToken($0) } ?? pointer,
                message: message)
        }
    }

    /// A JSON pointer reference token: `~` as `~0`, `/` as `~1`.
    static func escapePointerToken(_ token: String) -> String {
        guard token.contains("~") || token.contains("/") else { return token }
        var escaped = ""
        for character in token {
            switch character {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// One schema conversion: the rules written so far and the definitions still to write.
    struct Converter {
        struct PendingDefinition {
            var key: String
            var name: String
            var schema: JSONValue
            var pointer: String
        }

        let root: JSONValue
        let options: JSONGrammarOptions
        var rules: GBNFSynthesis.Rules
        /// Rule name per resolved `$ref` (`#` plus the JSON pointer) and per merged schema that inlined one.
        private var ruleByReference: [String: String] = [:]
        /// How error messages name a key of `ruleByReference` that is not a reference.
        private var displayNames: [String: String] = [:]
        /// The referenced schemas `flatten` has merged, by reference key.
        var flattenedReferences: [String: Flattened] = [:]
        private var pendingDefinitions: [PendingDefinition] = []
        /// References made before any JSON text in a definition's rule: a cycle of them is left recursion.
        private var leadingReferences: [(from: String, to: String, pointer: String)] = []

        init(root: JSONValue, options: JSONGrammarOptions) {
            self.root = root
            self.options = options
            rules = GBNFSynthesis.Rules(maxBytes: options.maxGrammarBytes)
        }

        mutating func grammar() throws(GrammarError) -> String {
            let rootName = rules.reserve("root")
            ruleByReference["#"] = rootName
            let body = try fragment(for: root, Context(pointer: "", hint: "root", depth: 0, leadingDefinition: "#"))
            try define(rootName, as: body, at: "")
            // Definitions are written one after another, not nested: a long chain of references costs no depth.
            var next = 0
            while next < pendingDefinitions.count {
                let definition = pendingDefinitions[next]
                next += 1
                let context = Context(
                    pointer: definition.pointer, hint: definition.name, depth: 1, leadingDefinition: definition.key)
                try define(definition.name, as: try fragment(for: definition.schema, context), at: definition.pointer)
            }
            try refuseLeftRecursion()
            return try rules.text()
        }

        private mutating func define(_ name: String, as body: Fragment, at pointer: String) throws(GrammarError) {
            do throws(GrammarError) {
                try rules.define(name, as: body.ruleBody)
            } catch {
                throw GrammarError(location: pointer, message: error.message)
            }
        }

        /// `fragment` as an atom, making it a rule named after `hint` if needed.
        mutating func atom(_ fragment: Fragment, hint: String, _ context: Context) throws(GrammarError) -> Fragment {
            do throws(GrammarError) {
                return try rules.atom(fragment, hint: hint)
            } catch {
                throw context.error(error.message)
            }
        }

        /// The grammar for one schema (`true`, `false` or an object).
        mutating func fragment(for schema: JSONValue, _ context: Context) throws(GrammarError) -> Fragment {
            guard context.depth <= options.maxDepth else {
                throw context.error("the schema nests deeper than maxDepth (\(options.maxDepth))")
            }
            switch schema {
            case .bool(true): return rules.builtin(.value)
            case .bool(false): throw context.error("the schema false matches nothing")
            case .object(let members): return try objectSchema(Keywords(members, context), context)
            default: throw context.error("a schema must be an object or a Boolean")
            }
        }

        private mutating func objectSchema(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
            try schema.checkSupported()
            if schema["allOf"] != nil || (schema["$ref"] != nil && schema.hasConstraints(besides: ["$ref"])) {
                return try merged(try flatten(.object(schema.members), context), context)
            }
            if let reference = schema["$ref"] { return try self.reference(reference, context) }
            var result: Fragment
            if schema["anyOf"] != nil || schema["oneOf"] != nil {
                result = try union(schema, context)
            } else if schema["enum"] != nil || schema["const"] != nil {
                result = try constants(schema, context)
            } else {
                result = try typed(schema, context)
            }
            if try schema.bool("nullable") == true {
                result = GBNFSynthesis.alternation([result, rules.builtin(.null)])
            }
            return result
        }

        /// `anyOf` or `oneOf`: any alternative, each with the schema's other constraints merged in.
        private mutating func union(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
            guard schema["anyOf"] == nil || schema["oneOf"] == nil else {
                throw context.error("anyOf and oneOf in the same schema are not supported; nest one inside the other")
            }
            let keyword = schema["anyOf"] != nil ? "anyOf" : "oneOf"
            guard case .array(let alternatives)? = schema[keyword], !alternatives.isEmpty else {
                throw context.error("\(keyword) must be a non-empty array of schemas", at: keyword)
            }
            let siblings = schema.members.filter {
                $0.key != "anyOf" && $0.key != "oneOf" && $0.key != "nullable" && Keywords.isConstraint($0.key)
            }
            var fragments: [Fragment] = []
            for (index, alternative) in alternatives.enumerated() where alternative != .bool(false) {
                let alternativeContext = context.child(keyword, String(index), hint: "\(context.hint)-\(index)", consuming: false)
                if siblings.isEmpty {
                    fragments.append(try fragment(for: alternative, alternativeContext))
                } else {
                    var flattened = try flatten(alternative, alternativeContext)
                    flattened.members = try merge(siblings, flattened.members, context)
                    fragments.append(try merged(flattened, alternativeContext))
                }
            }
            guard !fragments.isEmpty else { throw context.error("no alternative of \(keyword) can match", at: keyword) }
            return GBNFSynthesis.alternation(fragments)
        }

        /// The grammar for a merged schema. One that inlined a `$ref` becomes a rule of its own, named once per
        /// distinct merged schema, so that a merge that recurs inside itself (`{"items": {"allOf": [{"$ref": "#"}]}}`)
        /// refers back to its rule instead of unfolding without end.
        private mutating func merged(_ flattened: Flattened, _ context: Context) throws(GrammarError) -> Fragment {
            var deeper = context
            deeper.depth += 1
            guard flattened.inlinesReference else { return try fragment(for: .object(flattened.members), deeper) }
            let key = "allOf " + JSONValue.object(flattened.members).text
            let name: String
            if let existing = ruleByReference[key] {
                name = existing
            } else {
                name = rules.reserve(context.hint)
                ruleByReference[key] = name
                displayNames[key] = "the merged schema at \(context.pointer.isEmpty ? "/" : context.pointer)"
                pendingDefinitions.append(
                    PendingDefinition(key: key, name: name, schema: .object(flattened.members), pointer: context.pointer))
            }
            if let from = context.leadingDefinition {
                leadingReferences.append((from: from, to: key, pointer: context.pointer))
            }
            return .atom(name)
        }

        /// `enum` / `const`: the values' compact JSON text, keeping those of the schema's `type`.
        private mutating func constants(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
            var values: [JSONValue]
            if let constant = schema["const"] {
                values = [constant]
                if let list = schema["enum"] {
                    guard case .array(let listed) = list else { throw context.error("enum must be an array", at: "enum") }
                    values = listed.filter { $0 == constant }
                }
            } else {
                guard case .array(let listed)? = schema["enum"], !listed.isEmpty else {
                    throw context.error("enum must be a non-empty array", at: "enum")
                }
                values = listed
            }
            if let types = try schema.typeList() {
                values = values.filter { Keywords.value($0, hasOneOf: types) }
            }
            guard !values.isEmpty else {
                throw context.error("no value of enum/const satisfies the schema", at: schema["const"] != nil ? "const" : "enum")
            }
            return GBNFSynthesis.alternation(values.map { .literal($0.text) })
        }

        /// The schema's types (given or inferred), each with its family of keywords.
        private mutating func typed(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
            guard let types = try schema.typeList() ?? schema.inferredTypes() else { return rules.builtin(.value) }
            var fragments: [Fragment] = []
            for type in types {
                switch type {
                case "null": fragments.append(rules.builtin(.null))
                case "boolean": fragments.append(rules.builtin(.boolean))
                case "string": fragments.append(try string(schema, context))
                case "integer": fragments.append(try integer(schema, context))
                case "number": fragments.append(try number(schema, context))
                case "object": fragments.append(try object(schema, context))
                default: fragments.append(try array(schema, context))
                }
            }
            return GBNFSynthesis.alternation(fragments)
        }

        // MARK: - References

        private mutating func reference(_ value: JSONValue, _ context: Context) throws(GrammarError) -> Fragment {
            guard case .string(let reference) = value else { throw context.error("$ref must be a string", at: "$ref") }
            let target = try resolve(reference, context)
            let name: String
            if let existing = ruleByReference[target.key] {
                name = existing
            } else {
                name = rules.reserve(Self.definitionHint(target.key))
                ruleByReference[target.key] = name
                pendingDefinitions.append(
                    PendingDefinition(key: target.key, name: name, schema: target.schema, pointer: target.pointer))
            }
            if let from = context.leadingDefinition {
                leadingReferences.append((from: from, to: target.key, pointer: context.pointer + "/$ref"))
            }
            return .atom(name)
        }

        /// The schema a local reference (`#`, `#/$defs/Name`, any `#/json/pointer`, percent-encoded or not) points to.
        func resolve(
            _ reference: String, _ context: Context
        ) throws(GrammarError) -> (key: String, schema: JSONValue, pointer: String) {
            guard reference.hasPrefix("#") else {
                throw context.error("only local references (#, #/$defs/…) are supported, not \"\(reference)\"", at: "$ref")
            }
            let fragment = Self.percentDecoded(String(reference.dropFirst()))
            if fragment.isEmpty { return ("#", root, "") }
            guard fragment.hasPrefix("/") else {
                throw context.error("references by anchor (\"\(reference)\") are not supported; use a JSON pointer", at: "$ref")
            }
            var node = root
            var pointer = ""
            for rawToken in fragment.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
                let token = String(rawToken.replacing("~1", with: "/").replacing("~0", with: "~"))
                switch node {
                case .object(let members):
                    guard let member = members.first(where: { $0.key == token }) else {
                        throw context.error("$ref \"\(reference)\" points to nothing (no \"\(token)\")", at: "$ref")
                    }
                    node = member.value
                case .array(let elements):
                    guard let index = Int(token), elements.indices.contains(index) else {
                        throw context.error("$ref \"\(reference)\" points to nothing (no element \(token))", at: "$ref")
                    }
                    node = elements[index]
                default:
                    throw context.error("$ref \"\(reference)\" points to nothing", at: "$ref")
                }
                pointer += "/" + JSONSchemaGrammar.escapePointerToken(token)
            }
            return ("#" + pointer, node, pointer)
        }

        /// A rule name for a definition: the last token of its pointer.
        private static func definitionHint(_ key: String) -> String {
            guard key != "#", let last = key.split(separator: "/", omittingEmptySubsequences: false).last else {
                return "root"
            }
            return String(last.replacing("~1", with: "/").replacing("~0", with: "~"))
        }

        private static func percentDecoded(_ text: String) -> String {
            guard text.contains("%") else { return text }
            let bytes = Array(text.utf8)
            var decoded: [UInt8] = []
            var index = 0
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                   let value = UInt8(String(decoding: bytes[index + 1...index + 2], as: UTF8.self), radix: 16)
                {
                    decoded.append(value)
                    index += 3
                } else {
                    decoded.append(bytes[index])
                    index += 1
                }
            }
            return String(decoding: decoded, as: UTF8.self)
        }

        /// Refuses definitions that reach themselves through references alone (`A: {"$ref": "#/$defs/B"}`,
        /// `B: {"anyOf": [{"$ref": "#/$defs/A"}, …]}`): their rules would be left-recursive.
        private func refuseLeftRecursion() throws(GrammarError) {
            var edges: [String: [(to: String, pointer: String)]] = [:]
            for reference in leadingReferences {
                edges[reference.from, default: []].append((reference.to, reference.pointer))
            }
            // Depth-first search without recursion: `path` holds the keys being visited and their next edge.
            var finished: Set<String> = []
            for start in leadingReferences.map(\.from) where !finished.contains(start) {
                var path: [(key: String, nextEdge: Int)] = [(start, 0)]
                var onPath: Set<String> = [start]
                while let top = path.last {
                    let outgoing = edges[top.key] ?? []
                    guard top.nextEdge < outgoing.count else {
                        finished.insert(top.key)
                        onPath.remove(top.key)
                        path.removeLast()
                        continue
                    }
                    path[path.count - 1].nextEdge += 1
                    let edge = outgoing[top.nextEdge]
                    if onPath.contains(edge.to) {
                        let cycleStart = path.firstIndex { $0.key == edge.to } ?? 0
                        let cycle = (path[cycleStart...].map(\.key) + [edge.to]).map { displayNames[$0] ?? $0 }
                        throw GrammarError(
                            location: edge.pointer,
                            message: "$ref cycle with no JSON text in between: \(cycle.joined(separator: " → "))")
                    }
                    if !finished.contains(edge.to) {
                        path.append((edge.to, 0))
                        onPath.insert(edge.to)
                    }
                }
            }
        }
    }
}

extension JSONSchemaGrammar {
    /// A schema object's keywords, read with checks that report the keyword's JSON pointer.
    struct Keywords {
        let members: Members
        let context: Context

        init(_ members: Members, _ context: Context) {
            self.members = members
            self.context = context
        }

        subscript(key: String) -> JSONValue? {
            members.first { $0.key == key }?.value
        }

        /// Keywords that change nothing about which documents match.
        static let annotations: Set<String> = [
            "title", "description", "examples", "default", "$schema", "$id", "$comment", "deprecated", "readOnly",
            "writeOnly", "discriminator", "strict",
        ]

        /// Keywords the converter implements (in the order the error message lists them).
        static let supported = [
            "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "nullable",
            "properties", "required", "additionalProperties", "unevaluatedProperties",
            "items", "prefixItems", "minItems", "maxItems",
            "minLength", "maxLength", "pattern", "format",
            "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        ]

        private static let supportedSet = Set(supported)

        /// Keywords of each type, which apply only to values of that type (and imply it when `type` is absent).
        static let families: [(type: String, keywords: Set<String>)] = [
            ("object", ["properties", "required", "additionalProperties", "unevaluatedProperties"]),
            ("array", ["items", "prefixItems", "minItems", "maxItems"]),
            ("string", ["minLength", "maxLength", "pattern", "format"]),
            ("number", ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]),
        ]

        static let typeNames: Set<String> = ["null", "boolean", "object", "array", "number", "integer", "string"]

        /// Whether `key` constrains documents (is neither an annotation nor a definitions container).
        static func isConstraint(_ key: String) -> Bool {
            !annotations.contains(key) && key != "$defs" && key != "definitions"
        }

        func hasConstraints(besides excluded: Set<String>) -> Bool {
            members.contains { Self.isConstraint($0.key) && !excluded.contains($0.key) }
        }

        /// Refuses any keyword that is neither implemented nor an annotation.
        func checkSupported() throws(GrammarError) {
            for member in members {
                let key = member.key
                if Self.annotations.contains(key) || Self.supportedSet.contains(key) { continue }
                // `uniqueItems: false` is the default and constrains nothing.
                if key == "uniqueItems" && member.value == .bool(false) { continue }
                throw context.error(
                    "unsupported JSON Schema keyword \"\(key)\"; supported: \(Self.supported.joined(separator: ", "))"
                        + " (annotations, which are ignored: \(Self.annotations.sorted().joined(separator: ", ")))",
                    at: key)
            }
        }

        func bool(_ key: String) throws(GrammarError) -> Bool? {
            guard let value = self[key] else { return nil }
            guard case .bool(let bool) = value else { throw context.error("\(key) must be true or false", at: key) }
            return bool
        }

        /// A non-negative integer count (`minItems`, `maxLength`, …), at most `maxRepetitionCount`.
        func count(_ key: String) throws(GrammarError) -> Int? {
            guard let value = self[key] else { return nil }
            guard case .number(let text) = value, let number = DecimalNumber(text), number.isInteger,
                  !number.isNegative
            else {
                throw context.error("\(key) must be a non-negative integer", at: key)
            }
            guard let count = number.integer(rounding: .down), count <= RegexGrammar.maxRepetitionCount else {
                throw context.error(
                    "\(key) \(text) is larger than the supported \(RegexGrammar.maxRepetitionCount)", at: key)
            }
            return count
        }

        /// The types `type` names, in order (`integer` dropped when `number` is there too); `nil` without `type`.
        func typeList() throws(GrammarError) -> [String]? {
            guard let value = self["type"] else { return nil }
            let names: [JSONValue]
            switch value {
            case .string: names = [value]
            case .array(let list) where !list.isEmpty: names = list
            default: throw context.error("type must be a type name or a non-empty array of them", at: "type")
            }
            var types: [String] = []
            for name in names {
                guard case .string(let type) = name, Self.typeNames.contains(type) else {
                    throw context.error(
                        "unknown type \(name.text); the types are null, boolean, object, array, number, integer, string",
                        at: "type")
                }
                if !types.contains(type) { types.append(type) }
            }
            if types.contains("number") { types.removeAll { $0 == "integer" } }
            return types
        }

        /// The types implied by the keywords present, when `type` is absent; `nil` when none is implied.
        func inferredTypes() -> [String]? {
            let types = Self.families.filter { family in members.contains { family.keywords.contains($0.key) } }
            return types.isEmpty ? nil : types.map(\.type)
        }

        /// Whether `value` is of one of `types` (an integer-valued number is an `integer`).
        static func value(_ value: JSONValue, hasOneOf types: [String]) -> Bool {
            switch value {
            case .null: types.contains("null")
            case .bool: types.contains("boolean")
            case .string: types.contains("string")
            case .array: types.contains("array")
            case .object: types.contains("object")
            case .number(let text):
                types.contains("number") || (types.contains("integer") && DecimalNumber(text)?.isInteger == true)
            }
        }
    }
}

extension JSONSchemaGrammar.Converter {
    typealias Context = JSONSchemaGrammar.Context
    typealias Keywords = JSONSchemaGrammar.Keywords
    typealias Members = JSONSchemaGrammar.Members

    /// A schema's keywords with its `$ref` and `allOf` merged in.
    struct Flattened {
        var members: Members
        /// Whether a `$ref` was inlined: the merged schema may then recur inside itself.
        var inlinesReference: Bool
    }

    /// `schema` with its `$ref` and `allOf` replaced by the keywords of the schemas they name, merged (see `merge`),
    /// and annotations dropped. `inlining` lists the references being inlined around this one.
    mutating func flatten(_ schema: JSONValue, _ context: Context, inlining: [String] = []) throws(GrammarError) -> Flattened {
        guard context.depth <= options.maxDepth else {
            throw context.error("the schema nests deeper than maxDepth (\(options.maxDepth))")
        }
        switch schema {
        case .bool(true):
            return Flattened(members: [], inlinesReference: false)
        case .bool(false):
            throw context.error("the schema false matches nothing")
        case .object(let members):
            try Keywords(members, context).checkSupported()
            var result = Flattened(members: [], inlinesReference: false)
            func add(_ part: Flattened, to result: inout Flattened) throws(GrammarError) {
                result.members = try merge(result.members, part.members, context)
                result.inlinesReference = result.inlinesReference || part.inlinesReference
            }
            for member in members {
                switch member.key {
                case "$ref":
                    guard case .string(let reference) = member.value else {
                        throw context.error("$ref must be a string", at: "$ref")
                    }
                    let target = try resolve(reference, context)
                    guard !inlining.contains(target.key) else {
                        throw context.error(
                            "$ref cycle through allOf: \((inlining + [target.key]).joined(separator: " → "))", at: "$ref")
                    }
                    // Each reference is flattened once: `allOf` fanning out over shared definitions stays linear.
                    if let cached = flattenedReferences[target.key] {
                        try add(cached, to: &result)
                        continue
                    }
                    let targetContext = Context(
                        pointer: target.pointer, hint: context.hint, depth: context.depth + 1,
                        leadingDefinition: context.leadingDefinition)
                    var inlined = try flatten(target.schema, targetContext, inlining: inlining + [target.key])
                    inlined.inlinesReference = true
                    flattenedReferences[target.key] = inlined
                    try add(inlined, to: &result)
                case "allOf":
                    guard case .array(let parts) = member.value, !parts.isEmpty else {
                        throw context.error("allOf must be a non-empty array of schemas", at: "allOf")
                    }
                    for (index, part) in parts.enumerated() {
                        let partContext = context.child("allOf", String(index), hint: context.hint, consuming: false)
                        try add(try flatten(part, partContext, inlining: inlining), to: &result)
                    }
                default:
                    if Keywords.isConstraint(member.key) {
                        try add(Flattened(members: [member], inlinesReference: false), to: &result)
                    }
                }
            }
            return result
        default:
            throw context.error("a schema must be an object or a Boolean")
        }
    }

    /// The keywords of both schemas, for a document that must match both: `properties` combine (a property in both
    /// must match both schemas), `required` lists unite, `type`s intersect; any other keyword in both must be equal.
    func merge(_ base: Members, _ addition: Members, _ context: Context) throws(GrammarError) -> Members {
        var result = base
        for member in addition {
            guard let index = result.firstIndex(where: { $0.key == member.key }) else {
                result.append(member)
                continue
            }
            let existing = result[index].value
            if existing == member.value { continue }
            switch (member.key, existing, member.value) {
            case ("properties", .object(var combined), .object(let added)):
                for property in added {
                    if let at = combined.firstIndex(where: { $0.key == property.key }) {
                        if combined[at].value != property.value {
                            combined[at].value = .object([(key: "allOf", value: .array([combined[at].value, property.value]))])
                        }
                    } else {
                        combined.append(property)
                    }
                }
                result[index].value = .object(combined)
            case ("required", .array(var combined), .array(let added)):
                for name in added where !combined.contains(name) { combined.append(name) }
                result[index].value = .array(combined)
            case ("type", _, _):
                let first = try Keywords([(key: "type", value: existing)], context).typeList() ?? []
                let second = try Keywords([(key: "type", value: member.value)], context).typeList() ?? []
                var common: [String] = []
                for type in first {
                    if second.contains(type) {
                        common.append(type)
                    } else if (type == "number" && second.contains("integer")) || (type == "integer" && second.contains("number")) {
                        common.append("integer")
                    }
                }
                guard !common.isEmpty else {
                    throw context.error("the merged schemas have no type in common (\(existing.text) and \(member.value.text))", at: "type")
                }
                result[index].value = common.count == 1 ? .string(common[0]) : .array(common.map { .string($0) })
            default:
                throw context.error(
                    "\"\(member.key)\" is given twice with different values (by allOf, or next to $ref or anyOf); merge them by hand",
                    at: member.key)
            }
        }
        return result
    }
}

extension JSONSchemaGrammar.Converter {
    typealias Fragment = GBNFSynthesis.Fragment

    /// One listed property: its key, its value's grammar (an atom) and whether it must appear.
    private struct Property {
        var key: String
        var value: Fragment
        var isRequired: Bool
    }

    // MARK: - Objects

    /// An object with `properties` in schema order (the `required` ones mandatory), then, when
    /// `additionalProperties` allows them, members with other keys.
    mutating func object(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
        if let unevaluated = schema["unevaluatedProperties"], unevaluated != .bool(false) {
            throw context.error(
                "only unevaluatedProperties: false is supported (use additionalProperties instead)",
                at: "unevaluatedProperties")
        }
        var listed: Members = []
        if let value = schema["properties"] {
            guard case .object(let members) = value else {
                throw context.error("properties must be an object of schemas", at: "properties")
            }
            listed = members
        }
        var required: [String] = []
        var requiredSet: Set<String> = []
        if let value = schema["required"] {
            guard case .array(let names) = value else { throw context.error("required must be an array of strings", at: "required") }
            for name in names {
                guard case .string(let key) = name else { throw context.error("required must be an array of strings", at: "required") }
                if requiredSet.insert(key).inserted { required.append(key) }
            }
        }
        let additional = schema["additionalProperties"]
        let allowsAnyMember = additional == nil || additional == .bool(true) || additional == .object([])
        if schema["properties"] == nil && schema["required"] == nil && schema["unevaluatedProperties"] == nil
            && allowsAnyMember
        {
            return rules.builtin(.object)
        }

        var properties: [Property] = []
        for member in listed {
            let isRequired = requiredSet.contains(member.key)
            if member.value == .bool(false) {
                guard !isRequired else {
                    throw context.error("required property \"\(member.key)\" has the schema false", at: "required")
                }
                continue
            }
            let propertyContext = context.child("properties", member.key, hint: context.hint(member.key), consuming: true)
            let value = try atom(try fragment(for: member.value, propertyContext), hint: propertyContext.hint, propertyContext)
            properties.append(Property(key: member.key, value: value, isRequired: isRequired))
        }
        let listedKeys = Set(listed.map(\.key))
        for key in required where !listedKeys.contains(key) {
            properties.append(Property(key: key, value: rules.builtin(.value), isRequired: true))
        }

        var extraValue: Fragment?
        switch additional {
        case nil, .bool(false)?: extraValue = nil
        case .bool(true)?: extraValue = rules.builtin(.value)
        case let additionalSchema?:
            let additionalContext = context.child("additionalProperties", hint: context.hint("additional"), consuming: true)
            extraValue = try atom(try fragment(for: additionalSchema, additionalContext), hint: additionalContext.hint, additionalContext)
        }
        return try objectBody(properties, extraValue: extraValue, context)
    }

    /// `{ … }` with the properties in order. Which property comes first (and so carries no comma) depends on which
    /// optional ones are left out, so each possible first property `a` opens an alternative `kv(a) after(a + 1)`,
    /// where `after(i)` is the optional or mandatory `, kv(i)` for every later property. Rules shared by these
    /// alternatives keep the grammar linear in the number of properties.
    private mutating func objectBody(
        _ properties: [Property], extraValue: Fragment?, _ context: Context
    ) throws(GrammarError) -> Fragment {
        let ws = rules.builtin(.ws)
        let comma = GBNFSynthesis.sequence([.literal(","), ws])
        func member(_ key: Fragment, _ value: Fragment) -> Fragment {
            GBNFSynthesis.sequence([key, ws, .literal(":"), ws, value, ws])
        }
        var extrasAfter = Fragment.empty
        var extrasAlone = Fragment.empty
        if let extraValue {
            let key = properties.isEmpty
                ? rules.builtin(.string)
                : try atom(keyExcluding(properties.map(\.key)), hint: context.hint("additional-key"), context)
            let extra = try atom(member(key, extraValue), hint: context.hint("additional-kv"), context)
            let more = GBNFSynthesis.repeated(GBNFSynthesis.sequence([comma, extra]), min: 0, max: nil)
            extrasAfter = more
            extrasAlone = GBNFSynthesis.sequence([extra, more])
        }
        let open = Fragment.literal("{")
        let close = Fragment.literal("}")
        guard !properties.isEmpty else {
            return GBNFSynthesis.sequence([open, ws, GBNFSynthesis.repeated(extrasAlone, min: 0, max: 1), close])
        }

        let firstRequired = properties.firstIndex(where: \.isRequired)
        let lastFirst = firstRequired ?? properties.count - 1
        func keyValue(_ index: Int) -> Fragment {
            member(.literal(JSONValue.string(properties[index].key).text), properties[index].value)
        }
        func step(_ index: Int, _ keyValue: Fragment) -> Fragment {
            let step = GBNFSynthesis.sequence([comma, keyValue])
            return properties[index].isRequired ? step : GBNFSynthesis.repeated(step, min: 0, max: 1)
        }
        // after(lastFirst + 1): the properties that can never come first, then the extra members.
        var after = GBNFSynthesis.sequence(
            (lastFirst + 1..<properties.count).map { step($0, keyValue($0)) } + [extrasAfter])
        var alternatives: [Fragment] = []
        for first in stride(from: lastFirst, through: 0, by: -1) {
            // `after` is after(first + 1); it and kv(first) are used twice when first >= 1.
            let key = properties[first].key
            let afterUse = first >= 1 ? try atom(after, hint: context.hint("after-\(key)"), context) : after
            let keyValueUse = first >= 1 ? try atom(keyValue(first), hint: context.hint("\(key)-kv"), context) : keyValue(first)
            alternatives.append(GBNFSynthesis.sequence([keyValueUse, afterUse]))
            if first >= 1 { after = GBNFSynthesis.sequence([step(first, keyValueUse), afterUse]) }
        }
        alternatives.reverse()
        var members = GBNFSynthesis.alternation(alternatives)
        if firstRequired == nil {
            members = GBNFSynthesis.repeated(GBNFSynthesis.alternation(alternatives + [extrasAlone]), min: 0, max: 1)
        }
        return GBNFSynthesis.sequence([open, ws, members, close])
    }

    /// A JSON string key other than `keys` (as JSON writes them), for additional properties: a trie of the keys'
    /// spellings where every node also allows any other next character, and ends only where no key ends. Keys
    /// longer than 256 characters, or spelled with `\u` escapes, are not excluded.
    private mutating func keyExcluding(_ keys: [String]) throws(GrammarError) -> Fragment {
        struct Node {
            var children: [(unit: String, node: Int)] = []
            var isKeyEnd = false
        }
        var nodes = [Node()]
        for key in keys where key.unicodeScalars.count <= 256 {
            var current = 0
            for scalar in key.unicodeScalars {
                let unit = JSONValue.escaped(scalar)
                if let child = nodes[current].children.first(where: { $0.unit == unit }) {
                    current = child.node
                } else {
                    nodes.append(Node())
                    nodes[current].children.append((unit, nodes.count - 1))
                    current = nodes.count - 1
                }
            }
            nodes[current].isKeyEnd = true
        }
        let character = rules.builtin(.char)
        let anything = GBNFSynthesis.repeated(character, min: 0, max: nil)
        let shortEscapes: [(unit: String, classItem: String)] = [
            ("\\\"", "\""), ("\\\\", "\\\\"), ("\\/", "/"), ("\\b", "b"), ("\\f", "f"), ("\\n", "n"), ("\\r", "r"),
            ("\\t", "t"),
        ]
        // Builds the expression bottom-up (children have larger indices than their parents).
        var expressions = [Fragment](repeating: .empty, count: nodes.count)
        for index in nodes.indices.reversed() {
            let node = nodes[index]
            guard !node.children.isEmpty else {
                expressions[index] = GBNFSynthesis.repeated(character, min: 1, max: nil)
                continue
            }
            var alternatives = node.children.map { GBNFSynthesis.sequence([.literal($0.unit), expressions[$0.node]]) }
            let rawUnits = node.children.compactMap { $0.unit.unicodeScalars.count == 1 ? $0.unit.unicodeScalars.first : nil }
            let rawOthers = GBNFSynthesis.ScalarSet.jsonRaw.subtracting(GBNFSynthesis.ScalarSet(rawUnits.map { $0.value...$0.value }))
            let escapeLetters = shortEscapes.filter { escape in !node.children.contains { $0.unit == escape.unit } }
            let escapeOthers = GBNFSynthesis.alternation([
                escapeLetters.isEmpty ? .empty : .atom("[" + escapeLetters.map(\.classItem).joined() + "]"),
                GBNFSynthesis.sequence([.literal("u"), GBNFSynthesis.repeated(.atom("[0-9a-fA-F]"), min: 4, max: 4)]),
            ].filter { $0.form != .empty })
            let otherCharacter = GBNFSynthesis.alternation([
                .atom(GBNFSynthesis.characterClass(rawOthers)),
                GBNFSynthesis.sequence([.literal("\\"), escapeOthers]),
            ])
            alternatives.append(GBNFSynthesis.sequence([otherCharacter, anything]))
            let choice = GBNFSynthesis.alternation(alternatives)
            expressions[index] = node.isKeyEnd ? choice : GBNFSynthesis.repeated(choice, min: 0, max: 1)
        }
        return GBNFSynthesis.sequence([.literal("\""), expressions[0], .literal("\"")])
    }

    // MARK: - Arrays

    /// An array: the `prefixItems` tuple, then `items` up to `maxItems`. The tuple's items are all required unless
    /// `minItems` says fewer (JSON Schema would allow any prefix of the tuple; a model filling a tuple wants it whole).
    mutating func array(_ schema: Keywords, _ context: Context) throws(GrammarError) -> Fragment {
        var tuple: [JSONValue] = []
        var tupleKeyword = "prefixItems"
        var items: JSONValue? = .bool(true)
        if let prefix = schema["prefixItems"] {
            guard case .array(let list) = prefix else { throw context.error("prefixItems must be an array of schemas", at: "prefixItems") }
            tuple = list
            // Without `items`, the tuple is the whole array (JSON Schema would allow any further items).
            items = schema["items"] == .bool(false) ? nil : schema["items"]
        } else if case .array(let list)? = schema["items"] {
            // Draft 2019-09 and earlier tuples; `additionalItems` is not supported, so nothing may follow.
            tuple = list
            tupleKeyword = "items"
            items = nil
        } else if let value = schema["items"] {
            items = value == .bool(false) ? nil : value
        }
        let givenMinItems = try schema.count("minItems")
        let maxItems = try schema.count("maxItems")
        var minItems = givenMinItems ?? 0
        if let maxItems, minItems > maxItems {
            throw context.error("minItems (\(minItems)) is larger than maxItems (\(maxItems))", at: "minItems")
        }
        let anyItem = items == .bool(true) || items == .object([])
        if tuple.isEmpty && minItems == 0 && maxItems == nil && anyItem { return rules.builtin(.array) }

        let ws = rules.builtin(.ws)
        let comma = GBNFSynthesis.sequence([.literal(","), ws])
        var elements: [Fragment] = []
        for (index, element) in tuple.enumerated() where index < maxItems ?? Int.max {
            // A `false` element can never be present, so the array ends before it.
            if element == .bool(false) {
                items = nil
                break
            }
            let elementContext = context.child(tupleKeyword, String(index), hint: context.hint("\(index)"), consuming: true)
            elements.append(try atom(try fragment(for: element, elementContext), hint: elementContext.hint, elementContext))
        }
        let capacity = items == nil ? elements.count : maxItems ?? Int.max
        if givenMinItems == nil { minItems = elements.count }
        guard minItems <= capacity else {
            throw context.error("minItems (\(minItems)) is more than the array can hold (\(capacity))", at: "minItems")
        }
        var rest = Fragment.empty
        if let items, capacity > elements.count {
            let itemContext = context.child("items", hint: context.hint("item"), consuming: true)
            let item = try atom(try fragment(for: items, itemContext), hint: itemContext.hint, itemContext)
            let low = Swift.max(0, minItems - elements.count)
            let high = maxItems.map { $0 - elements.count }
            let more = GBNFSynthesis.sequence([comma, item, ws])
            if elements.isEmpty {
                let tail = GBNFSynthesis.repeated(more, min: Swift.max(0, low - 1), max: high.map { $0 - 1 })
                rest = GBNFSynthesis.sequence([item, ws, tail])
                if low == 0 { rest = GBNFSynthesis.repeated(rest, min: 0, max: 1) }
            } else {
                rest = GBNFSynthesis.repeated(more, min: low, max: high)
            }
        }
        for index in elements.indices.reversed() {
            rest = GBNFSynthesis.sequence([index == 0 ? .empty : comma, elements[index], ws, rest])
            if index >= minItems { rest = GBNFSynthesis.repeated(rest, min: 0, max: 1) }
        }
        return GBNFSynthesis.sequence([.literal("["), ws, rest, .literal("]")])
    }
}

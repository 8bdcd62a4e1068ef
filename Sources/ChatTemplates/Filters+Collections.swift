/// Filters over sequences and mappings: `join`, `first`, `last`, `list`, `items`, `dictsort`, `map`, `select`,
/// `reject`, `selectattr`, `rejectattr`, `unique`, `sort`, `reverse`, `min`, `max`, `sum`, `batch`.
/// Like jinja2, `map`, `select`, `reject`, `selectattr`, `rejectattr`, `unique`, `items`, `batch` and `reverse`
/// return one-shot iterators (loopable and listable, but without length or JSON form).
extension Filters {
    static func generator(_ items: [JinjaValue], typeName: String = "generator") -> JinjaValue {
        .object(JinjaObject(.iterator(typeName: typeName, items: items)))
    }

    static func applyCollectionFilter(_ name: String, to value: JinjaValue, _ args: CallArguments,
                                      interpreter: Interpreter) throws(EvalError) -> JinjaValue
    {
        switch name {
        case "join":
            let a = try args.bind(["d", "attribute"], function: name)
            var items = try interpreter.iterate(value)
            if let attribute = a[1], !attribute.isNone {
                items = try items.map { (item) throws(EvalError) in try interpreter.lookupPath(item, attribute) }
            }
            let parts = items.map(\.pythonString)
            let separator = a[0]?.pythonString ?? ""
            let total = parts.reduce(0) { $0 + $1.utf8.count } + separator.utf8.count * max(0, parts.count - 1)
            try interpreter.checkAllocation(total)
            return .string(parts.joined(separator: separator))
        case "first", "last":
            try args.none(function: name)
            if name == "last", case .object(let object) = value, case .iterator = object.kind {
                throw EvalError(.type, "'\(value.typeName)' object is not reversible")
            }
            let items = try interpreter.iterate(value)
            return (name == "first" ? items.first : items.last) ?? .undefined
        case "list":
            try args.none(function: name)
            return .array(try interpreter.iterate(value))
        case "items":
            try args.none(function: name)
            switch value {
            case .undefined: return generator([])
            case .dictionary(let dict): return generator(dict.pairs.map { .array([$0.key, $0.value]) })
            default: throw EvalError(.type, "can only get item pairs from a mapping, not \(value.typeName)")
            }
        case "dictsort":
            let a = try args.bind(["case_sensitive", "by", "reverse"], function: name)
            guard case .dictionary(let dict) = value else {
                throw EvalError(.type, "dictsort needs a mapping, not \(value.typeName)")
            }
            let position: Int
            switch a[1]?.pythonString ?? "key" {
            case "key": position = 0
            case "value": position = 1
            default: throw EvalError(.runtime, "You can only sort by either \"key\" or \"value\"")
            }
            let caseSensitive = a[0]?.isTruthy ?? false
            let pairs = dict.pairs.map { JinjaValue.array([$0.key, $0.value]) }
            return .array(try sorted(pairs, reverse: a[2]?.isTruthy ?? false) { (pair) throws(EvalError) in
                let item = pair.arrayValue?[position] ?? .undefined
                return caseSensitive ? item : ignoringCase(item)
            })
        case "map":
            // jinja2 yields nothing for a falsy input (None, "", []) without looking at the arguments.
            guard value.isTruthy else { return generator([]) }
            return generator(try map(value, args, interpreter: interpreter))
        case "select", "reject", "selectattr", "rejectattr":
            guard value.isTruthy else { return generator([]) }
            return generator(try select(name, value, args, interpreter: interpreter))
        case "unique":
            let a = try args.bind(["case_sensitive", "attribute"], function: name)
            var seen = Set<JinjaValue>()
            var result: [JinjaValue] = []
            for item in try interpreter.iterate(value) {
                var key = try interpreter.lookupPath(item, a[1])
                if !(a[0]?.isTruthy ?? false) { key = ignoringCase(key) }
                if seen.insert(key).inserted { result.append(item) }
            }
            return generator(result)
        case "sort":
            let a = try args.bind(["reverse", "case_sensitive", "attribute"], function: name)
            let caseSensitive = a[1]?.isTruthy ?? false
            return .array(try sorted(try interpreter.iterate(value), reverse: a[0]?.isTruthy ?? false) {
                (item) throws(EvalError) in
                let key = try interpreter.lookupPath(item, a[2])
                return caseSensitive ? key : ignoringCase(key)
            })
        case "min", "max":
            let a = try args.bind(["case_sensitive", "attribute"], function: name)
            let caseSensitive = a[0]?.isTruthy ?? false
            let ordered = try sorted(try interpreter.iterate(value), reverse: name == "max") {
                (item) throws(EvalError) in
                let key = try interpreter.lookupPath(item, a[1])
                return caseSensitive ? key : ignoringCase(key)
            }
            return ordered.first ?? .undefined
        case "sum":
            let a = try args.bind(["attribute", "start"], function: name)
            var total = a[1] ?? .int(0)
            for item in try interpreter.iterate(value) {
                let term = try interpreter.lookupPath(item, a[0])
                total = try Operators.binary(.add, total, term, limits: interpreter.limits)
            }
            return total
        case "reverse":
            try args.none(function: name)
            if case .string(let s) = value { return .string(PythonText.string(s.unicodeScalars.reversed())) }
            if case .object(let object) = value, case .iterator = object.kind {
                throw EvalError(.type, "'\(value.typeName)' object is not reversible")
            }
            return generator(try interpreter.iterate(value).reversed(), typeName: "reverseiterator")
        case "batch":
            let a = try args.bind(["linecount", "fill_with"], function: name)
            let size = try integer(a[0] ?? .undefined, "batch size")
            guard size > 0 else { throw EvalError(.runtime, "batch size must be positive") }
            var batches: [JinjaValue] = []
            var current: [JinjaValue] = []
            for item in try interpreter.iterate(value) {
                current.append(item)
                if current.count == size {
                    batches.append(.array(current))
                    current = []
                }
            }
            if !current.isEmpty {
                if let fill = a[1], !fill.isNone { current += Array(repeating: fill, count: size - current.count) }
                batches.append(.array(current))
            }
            return generator(batches)
        default:
            throw EvalError(.syntax, jinjaNames.contains(name)
                ? "the filter '\(name)' is not supported by this template engine" : "no filter named '\(name)'")
        }
    }

    /// Lower-cases strings (jinja2's `ignore_case`); other values unchanged.
    static func ignoringCase(_ value: JinjaValue) -> JinjaValue {
        if case .string(let s) = value { return .string(s.lowercased()) }
        return value
    }

    /// A stable sort by key with Python ordering (errors for unorderable mixes).
    static func sorted(_ items: [JinjaValue], reverse: Bool,
                       key: (JinjaValue) throws(EvalError) -> JinjaValue) throws(EvalError) -> [JinjaValue]
    {
        let keys = try items.map { (item) throws(EvalError) in try key(item) }
        var order = Array(items.indices)
        // Insertion-merge sort on indices keeps equal keys in their original order (Python's sort is stable).
        var width = 1
        while width < order.count {
            var merged: [Int] = []
            merged.reserveCapacity(order.count)
            var start = 0
            while start < order.count {
                let mid = min(start + width, order.count)
                let end = min(start + 2 * width, order.count)
                var i = start
                var j = mid
                while i < mid || j < end {
                    if i < mid, j < end {
                        let c = try Operators.order(keys[order[j]], keys[order[i]])
                        // Take from the right run only when strictly before (or strictly after when reversed).
                        if reverse ? c > 0 : c < 0 {
                            merged.append(order[j])
                            j += 1
                        } else {
                            merged.append(order[i])
                            i += 1
                        }
                    } else if i < mid {
                        merged.append(order[i])
                        i += 1
                    } else {
                        merged.append(order[j])
                        j += 1
                    }
                }
                start = end
            }
            order = merged
            width *= 2
        }
        return order.map { items[$0] }
    }

    /// `map(attribute='x', default=…)` or `map('filter', args…)`.
    static func map(_ value: JinjaValue, _ args: CallArguments, interpreter: Interpreter) throws(EvalError)
        -> [JinjaValue]
    {
        let items = try interpreter.iterate(value)
        if args.positional.isEmpty, let attribute = args.keywords.first(where: { $0.0 == "attribute" })?.1 {
            let defaultValue = args.keywords.first(where: { $0.0 == "default" })?.1
            if let extra = args.keywords.first(where: { $0.0 != "attribute" && $0.0 != "default" }) {
                throw EvalError(.type, "map() got an unexpected keyword argument '\(extra.0)'")
            }
            return try items.map { (item) throws(EvalError) in
                let v = try interpreter.lookupPath(item, attribute)
                if v.isUndefined, let defaultValue { return defaultValue }
                return v
            }
        }
        guard case .string(let filterName)? = args.positional.first else {
            throw EvalError(.type, "map() needs a filter name or attribute=")
        }
        guard jinjaNames.contains(filterName) else { throw EvalError(.syntax, "no filter named '\(filterName)'") }
        let rest = CallArguments(Array(args.positional.dropFirst()), args.keywords)
        return try items.map { (item) throws(EvalError) in
            try apply(filterName, to: item, rest, interpreter: interpreter)
        }
    }

    /// `select(test, args…)`, `reject`, `selectattr(attribute, test, args…)`, `rejectattr`.
    static func select(_ name: String, _ value: JinjaValue, _ args: CallArguments, interpreter: Interpreter)
        throws(EvalError) -> [JinjaValue]
    {
        var positional = args.positional[...]
        var attribute: JinjaValue? = nil
        if name.hasSuffix("attr") {
            guard let first = positional.popFirst() else { throw EvalError(.type, "\(name)() needs an attribute name") }
            attribute = first
        }
        let keep = !name.hasPrefix("reject")
        let testName = positional.popFirst()
        let testArguments = CallArguments(Array(positional), args.keywords)
        var result: [JinjaValue] = []
        for item in try interpreter.iterate(value) {
            let subject = try interpreter.lookupPath(item, attribute)
            let passes: Bool
            if let testName {
                guard case .string(let t) = testName else { throw EvalError(.type, "test name must be a string") }
                passes = try JinjaTests.apply(t, to: subject, arguments: testArguments, interpreter: interpreter)
            } else {
                passes = subject.isTruthy
            }
            if passes == keep { result.append(item) }
        }
        return result
    }
}

extension Interpreter {
    /// jinja2's attribute getter for filters: a dotted path whose parts are item keys or integer indexes.
    /// Reading through an undefined intermediate value is an error, as in jinja2.
    func lookupPath(_ value: JinjaValue, _ path: JinjaValue?) throws(EvalError) -> JinjaValue {
        guard let path, !path.isNone else { return value }
        let parts: [JinjaValue]
        if case .string(let text) = path {
            parts = text.split(separator: ".", omittingEmptySubsequences: false).map { part in
                Int(part).map { .int($0) } ?? .string(String(part))
            }
        } else {
            parts = [path]
        }
        var current = value
        for (i, key) in parts.enumerated() {
            if current.isUndefined {
                let walked = parts[..<i].map(\.pythonString).joined(separator: ".")
                throw EvalError(.undefined, "'\(walked)' is undefined (reading attribute '\(path.pythonString)')")
            }
            current = item(of: current, key: key)
        }
        return current
    }
}

/// jinja2's tests (`value is name(args)`).
enum JinjaTests {
    /// Every test name jinja2 knows.
    static let jinjaNames: Set<String> = [
        "!=", "<", "<=", "==", ">", ">=", "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped",
        "even", "false", "filter", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan",
        "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "test", "true",
        "undefined", "upper",
    ]

    static func apply(_ name: String, to value: JinjaValue, arguments: CallArguments, interpreter: Interpreter)
        throws(EvalError) -> Bool
    {
        guard jinjaNames.contains(name) else { throw EvalError(.syntax, "no test named '\(name)'") }
        let isCollection: Bool
        switch value {
        case .string, .array, .dictionary, .undefined: isCollection = true
        default: isCollection = false
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number": return value.number != nil
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .dictionary = value { return true } else { return false }
        case "iterable":
            if case .object(let o) = value, case .iterator = o.kind { return true }
            return isCollection
        case "sequence": return isCollection
        case "callable":
            if case .object(let o) = value {
                switch o.kind {
                case .namespace, .iterator: return false
                default: return true
                }
            }
            return false
        case "escaped": return false
        case "lower", "upper":
            let text = value.pythonString
            let cased = text.unicodeScalars.filter { $0.properties.isCased }
            guard !cased.isEmpty else { return false }
            return name == "lower"
                ? cased.allSatisfy { $0.properties.isLowercase } : cased.allSatisfy { $0.properties.isUppercase }
        case "odd", "even", "divisibleby":
            let divisor = name == "divisibleby"
                ? try Filters.integer(try argument(arguments, "num", name), "divisibleby argument") : 2
            guard let number = value.number else {
                throw EvalError(.type, "unsupported operand type(s) for %: '\(value.typeName)' and 'int'")
            }
            let remainder = try Operators.arithmetic(.modulo, number, .int(divisor))
            let expected: JinjaValue = name == "odd" ? .int(1) : .int(0)
            return remainder == expected
        case "sameas":
            let other = try argument(arguments, "other", name)
            switch (value, other) {
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            default: return false
            }
        case "in":
            return try Operators.contains(try argument(arguments, "seq", name), value)
        case "filter":
            return Filters.jinjaNames.contains(value.pythonString)
        case "test":
            return jinjaNames.contains(value.pythonString)
        default:
            let other = try argument(arguments, "other", name)
            let op: CompareOperator = switch name {
            case "eq", "equalto", "==": .equal
            case "ne", "!=": .notEqual
            case "lt", "lessthan", "<": .less
            case "le", "<=": .lessOrEqual
            case "gt", "greaterthan", ">": .greater
            default: .greaterOrEqual
            }
            return try Operators.compare(op, value, other)
        }
    }

    private static func argument(_ arguments: CallArguments, _ parameter: String, _ test: String)
        throws(EvalError) -> JinjaValue
    {
        guard let value = try arguments.bind([parameter], function: test)[0] else {
            throw EvalError(.type, "the '\(test)' test needs an argument")
        }
        return value
    }
}

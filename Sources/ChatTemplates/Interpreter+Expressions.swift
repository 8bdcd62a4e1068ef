/// Expression evaluation: names, attribute and item access (jinja2's `getattr`/`getitem` rules), calls, operators.
extension Interpreter {
    func evaluate(_ expr: Expr) throws(EvalError) -> JinjaValue {
        try locate(expr.offset) { () throws(EvalError) in
            try enterNesting()
            defer { depth -= 1 }
            let value = try evaluateHere(expr)
            try checkSize(value)
            return value
        }
    }

    private func evaluateHere(_ expr: Expr) throws(EvalError) -> JinjaValue {
        switch expr.kind {
        case .literal(let value):
            return value
        case .name(let name):
            return scope.lookup(name) ?? .undefined
        case .list(let items), .tuple(let items):
            return .array(try items.map { (item) throws(EvalError) in try evaluate(item) })
        case .dict(let pairs):
            var dict = JinjaDictionary()
            for pair in pairs {
                let key = try evaluate(pair.key)
                switch key {
                case .array, .dictionary, .undefined:
                    throw EvalError(.type, "unhashable type: '\(key.typeName)'", at: pair.key.offset)
                default:
                    dict[key] = try evaluate(pair.value)
                }
            }
            return .dictionary(dict)
        case .attribute(let base, let name):
            return attribute(of: try defined(base), name)
        case .item(let base, let key):
            return item(of: try defined(base), key: try evaluate(key))
        case .slice(let base, let start, let stop, let step):
            let value = try defined(base)
            let bounds = try [start, stop, step].map { (part) throws(EvalError) -> Int? in
                guard let part else { return nil }
                switch try evaluate(part) {
                case .none: return nil
                case .int(let i): return i
                case .bool(let b): return b ? 1 : 0
                default: throw EvalError(.type, "slice indices must be integers or None", at: part.offset)
                }
            }
            return try PythonSlice.apply(to: value, start: bounds[0], stop: bounds[1], step: bounds[2])
        case .call(let callee, let arguments):
            let function = try evaluate(callee)
            if case .undefined = function {
                if case .attribute(_, let name) = callee.kind, Methods.mutatingNames.contains(name) {
                    throw EvalError(.security, "access to attribute '\(name)' is unsafe: the template sandbox "
                        + "forbids modifying lists and dicts (build a new value with '+' or a namespace instead)")
                }
                throw undefinedError(callee)
            }
            return try callValue(function, arguments: arguments, extraKeywords: [], calleeExpr: callee)
        case .filter(let base, let filter):
            return try applyFilter(filter, to: try evaluate(base))
        case .test(let base, let name, let arguments, let negated):
            let value = try evaluate(base)
            let (positional, keywords) = try evaluateArguments(arguments)
            let result = try JinjaTests.apply(name, to: value, arguments: CallArguments(positional, keywords),
                                              interpreter: self)
            return .bool(result != negated)
        case .not(let operand):
            return .bool(!(try evaluate(operand).isTruthy))
        case .negate(let operand), .unaryPlus(let operand):
            let value = try evaluate(operand)
            guard let number = value.number else {
                if value.isUndefined { throw undefinedError(operand) }
                let op = if case .negate = expr.kind { "-" } else { "+" }
                throw EvalError(.type, "bad operand type for unary \(op): '\(value.typeName)'")
            }
            guard case .negate = expr.kind else { return number.value }
            switch number {
            case .int(let i):
                let (r, overflow) = (0 as Int).subtractingReportingOverflow(i)
                if overflow { throw EvalError(.runtime, "integer overflow") }
                return .int(r)
            case .double(let d): return .double(-d)
            }
        case .binary(let op, let lhs, let rhs):
            let a = try evaluate(lhs)
            let b = try evaluate(rhs)
            if op == .concat { return .string(a.pythonString + b.pythonString) }
            if a.isUndefined { throw undefinedError(lhs) }
            if b.isUndefined { throw undefinedError(rhs) }
            if op == .add, case .string(let x) = a, case .string(let y) = b {
                // markupsafe: `Markup + str` and `str + Markup` HTML-escape the plain side.
                switch (Interpreter.isMarkup(lhs), Interpreter.isMarkup(rhs)) {
                case (true, false): return .string(x + Filters.htmlEscape(y))
                case (false, true): return .string(Filters.htmlEscape(x) + y)
                default: break
                }
            }
            return try Operators.binary(op, a, b, limits: limits)
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for operation in operations {
                let right = try evaluate(operation.operand)
                let holds = try locate(operation.offset) { () throws(EvalError) in
                    try Operators.compare(operation.op, left, right)
                }
                if !holds { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let lhs, let rhs):
            let a = try evaluate(lhs)
            return a.isTruthy ? try evaluate(rhs) : a
        case .or(let lhs, let rhs):
            let a = try evaluate(lhs)
            return a.isTruthy ? a : try evaluate(rhs)
        case .conditional(let condition, let then, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            guard let otherwise else { return .undefined }
            return try evaluate(otherwise)
        }
    }

    /// Evaluates an expression whose attributes or items are about to be read; undefined is an error there.
    func defined(_ expr: Expr) throws(EvalError) -> JinjaValue {
        let value = try evaluate(expr)
        if value.isUndefined { throw undefinedError(expr) }
        return value
    }

    func undefinedError(_ expr: Expr) -> EvalError {
        EvalError(.undefined, "'\(Interpreter.describe(expr))' is undefined", at: expr.offset)
    }

    /// Whether an expression yields a markupsafe `Markup` string in jinja2 (`x|safe`, `x|escape` and sums or
    /// string filters of those). Tracked syntactically: a `Markup` stored in a variable is seen as a plain string.
    static func isMarkup(_ expr: Expr) -> Bool {
        switch expr.kind {
        case .filter(let base, let filter):
            switch filter.name {
            case "safe", "escape", "e", "forceescape": return true
            case "trim", "upper", "lower", "title", "capitalize", "indent", "replace", "string", "center":
                return isMarkup(base)
            default: return false
            }
        case .binary(.add, let lhs, let rhs): return isMarkup(lhs) || isMarkup(rhs)
        default: return false
        }
    }

    /// A short source-like rendering of an expression for error messages (`message.content`, `tools[0]`).
    static func describe(_ expr: Expr) -> String {
        switch expr.kind {
        case .name(let n): n
        case .attribute(let base, let n): describe(base) + "." + n
        case .item(let base, let key):
            switch key.kind {
            case .literal(let v): describe(base) + "[" + v.pythonRepr + "]"
            default: describe(base) + "[…]"
            }
        case .call(let callee, _): describe(callee) + "(…)"
        case .literal(let v): v.pythonRepr
        default: "value"
        }
    }

    /// jinja2's `getattr`: Python attributes (methods of str/dict/list, namespace fields) first, then dict keys.
    func attribute(of value: JinjaValue, _ name: String) -> JinjaValue {
        switch value {
        case .dictionary(let dict):
            if Methods.dictionaryNames.contains(name) {
                return .object(JinjaObject(.boundMethod(receiver: value, name: name)))
            }
            return dict[name] ?? .undefined
        case .string:
            return Methods.stringNames.contains(name)
                ? .object(JinjaObject(.boundMethod(receiver: value, name: name))) : .undefined
        case .array:
            return Methods.listNames.contains(name)
                ? .object(JinjaObject(.boundMethod(receiver: value, name: name))) : .undefined
        case .object(let object):
            if case .namespace(let id) = object.kind { return namespaces[id][name] ?? .undefined }
            return .undefined
        default:
            return .undefined
        }
    }

    /// jinja2's `getitem`: Python subscription (list/str index, dict key) first, then attributes for string keys.
    func item(of value: JinjaValue, key: JinjaValue) -> JinjaValue {
        switch (value, key) {
        case (.array(let items), _):
            guard let i = key.integerIndex, let j = PythonSlice.index(i, count: items.count) else {
                return key.stringValue.map { attribute(of: value, $0) } ?? .undefined
            }
            return items[j]
        case (.string(let s), _):
            guard let i = key.integerIndex else { return key.stringValue.map { attribute(of: value, $0) } ?? .undefined }
            let scalars = Array(s.unicodeScalars)
            guard let j = PythonSlice.index(i, count: scalars.count) else { return .undefined }
            return .string(String(scalars[j]))
        case (.dictionary(let dict), _):
            if let found = dict[key] { return found }
            return key.stringValue.map { attribute(of: value, $0) } ?? .undefined
        case (_, .string(let k)):
            return attribute(of: value, k)
        default:
            return .undefined
        }
    }

    func evaluateArguments(_ arguments: Arguments) throws(EvalError) -> ([JinjaValue], [(String, JinjaValue)]) {
        var positional = try arguments.positional.map { (e) throws(EvalError) in try evaluate(e) }
        if let spread = arguments.spread { positional += try iterate(try evaluate(spread)) }
        var keywords = try arguments.keyword.map { (pair) throws(EvalError) in (pair.name, try evaluate(pair.value)) }
        if let spread = arguments.keywordSpread {
            guard case .dictionary(let dict) = try evaluate(spread) else {
                throw EvalError(.type, "argument after ** must be a mapping", at: spread.offset)
            }
            for (key, value) in dict.pairs {
                guard case .string(let name) = key else {
                    throw EvalError(.type, "keywords must be strings", at: spread.offset)
                }
                keywords.append((name, value))
            }
        }
        return (positional, keywords)
    }

    /// Calls a macro, built-in function or bound method.
    func callValue(_ function: JinjaValue, arguments: Arguments, extraKeywords: [(String, JinjaValue)],
                   calleeExpr: Expr) throws(EvalError) -> JinjaValue
    {
        var (positional, keywords) = try evaluateArguments(arguments)
        keywords += extraKeywords
        guard case .object(let object) = function else {
            throw EvalError(.type, "'\(function.typeName)' object is not callable ('\(Interpreter.describe(calleeExpr))')")
        }
        switch object.kind {
        case .builtin(let name):
            return try Globals.call(name, CallArguments(positional, keywords), interpreter: self)
        case .boundMethod(let receiver, let name):
            return try Methods.call(name, on: receiver, CallArguments(positional, keywords), interpreter: self)
        case .macro(let id, _):
            return try callMacro(id: id, positional: positional, keywords: keywords)
        case .loopCycle(let index0):
            guard !positional.isEmpty else { throw EvalError(.type, "no items for cycling given") }
            return positional[index0 % positional.count]
        case .namespace, .iterator:
            throw EvalError(.type, "'\(function.typeName)' object is not callable")
        }
    }
}

extension JinjaValue {
    /// The value as a Python sequence index (ints and bools), if it is one.
    var integerIndex: Int? {
        switch self {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }
}

extension JinjaValue.Number {
    var value: JinjaValue {
        switch self {
        case .int(let i): .int(i)
        case .double(let d): .double(d)
        }
    }
}

/// Python sequence indexing and slicing on lists and strings.
enum PythonSlice {
    /// A possibly negative index resolved against `count`, or nil when out of range.
    static func index(_ i: Int, count: Int) -> Int? {
        let j = i < 0 ? i + count : i
        return j >= 0 && j < count ? j : nil
    }

    /// The positions `value[start:stop:step]` selects, as Python computes them.
    static func positions(count: Int, start: Int?, stop: Int?, step: Int?) throws(EvalError) -> [Int] {
        let step = step ?? 1
        if step == 0 { throw EvalError(.runtime, "slice step cannot be zero") }
        func clamp(_ value: Int?, _ defaultValue: Int, low: Int, high: Int) -> Int {
            guard var v = value else { return defaultValue }
            if v < 0 { v += count }
            return min(max(v, low), high)
        }
        var result: [Int] = []
        if step > 0 {
            var i = clamp(start, 0, low: 0, high: count)
            let end = clamp(stop, count, low: 0, high: count)
            while i < end {
                result.append(i)
                i += step
            }
        } else {
            var i = clamp(start, count - 1, low: -1, high: count - 1)
            let end = clamp(stop, -1, low: -1, high: count - 1)
            while i > end {
                result.append(i)
                i += step
            }
        }
        return result
    }

    static func apply(to value: JinjaValue, start: Int?, stop: Int?, step: Int?) throws(EvalError) -> JinjaValue {
        switch value {
        case .array(let items):
            return .array(try positions(count: items.count, start: start, stop: stop, step: step).map { items[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            let picked = try positions(count: scalars.count, start: start, stop: stop, step: step).map { scalars[$0] }
            return .string(PythonText.string(picked))
        default:
            return .undefined
        }
    }
}

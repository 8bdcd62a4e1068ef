import Foundation

/// A variable scope. jinja2 gives each `for` iteration, macro call and `with` block a fresh scope whose reads fall
/// through to the enclosing one and whose writes stay local; `if` shares its enclosing scope.
final class Scope {
    var variables: [String: JinjaValue] = [:]
    let parent: Scope?

    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> JinjaValue? {
        var scope: Scope? = self
        while let s = scope {
            if let value = s.variables[name] { return value }
            scope = s.parent
        }
        return nil
    }
}

/// How a statement list finished.
enum Flow {
    case normal, breakLoop, continueLoop
}

/// Evaluates a parsed template. One interpreter serves one render call.
final class Interpreter {
    let limits: TemplateLimits
    let now: Date
    let timeZone: TimeZone
    let deadline: ContinuousClock.Instant
    var scope: Scope
    var output = ""
    var producedBytes = 0
    var iterations = 0
    var callDepth = 0
    /// Current nesting of statement bodies and expressions being evaluated, across macro calls.
    var depth = 0
    /// Bounds the interpreter's recursion so that no template can exhaust the thread's stack (512 KiB suffices).
    static let maxDepth = 250
    /// Macros and call-block callers defined so far, with the scope they were defined in.
    var macros: [(definition: MacroDefinition, scope: Scope)] = []
    /// Storage of `namespace()` objects.
    var namespaces: [JinjaDictionary] = []

    init(context: [String: JinjaValue], limits: TemplateLimits, now: Date, timeZone: TimeZone) {
        self.limits = limits
        self.now = now
        self.timeZone = timeZone
        deadline = ContinuousClock.now.advanced(by: limits.maxDuration)
        let globals = Scope(parent: nil)
        for name in Globals.names { globals.variables[name] = .object(JinjaObject(.builtin(name))) }
        scope = Scope(parent: globals)
        scope.variables = context
    }

    // MARK: Output

    func write(_ text: String) throws(EvalError) {
        producedBytes += text.utf8.count
        if producedBytes > limits.maxOutputBytes {
            throw EvalError(.limit, "template output exceeds \(limits.maxOutputBytes) bytes")
        }
        output += text
    }

    /// Runs `body` with a fresh output buffer and returns what it wrote.
    func capture(_ body: () throws(EvalError) -> Void) throws(EvalError) -> String {
        let saved = output
        output = ""
        defer { output = saved }
        try body()
        return output
    }

    /// Runs `body` in a new child scope (or `scope` when given).
    func withScope<T>(_ newScope: Scope? = nil, _ body: () throws(EvalError) -> T) throws(EvalError) -> T {
        let saved = scope
        scope = newScope ?? Scope(parent: saved)
        defer { scope = saved }
        return try body()
    }

    func countIteration() throws(EvalError) {
        iterations += 1
        if iterations > limits.maxIterations {
            throw EvalError(.limit, "template ran more than \(limits.maxIterations) loop iterations and macro calls")
        }
        if ContinuousClock.now > deadline {
            throw EvalError(.limit, "template rendering took longer than \(limits.maxDuration)")
        }
    }

    /// Fails when a value produced while rendering is larger than the output limit allows.
    func checkSize(_ value: JinjaValue) throws(EvalError) {
        switch value {
        case .string(let s) where s.utf8.count > limits.maxOutputBytes:
            throw EvalError(.limit, "a string value grew beyond \(limits.maxOutputBytes) bytes")
        case .array(let items) where items.count > limits.maxIterations:
            throw EvalError(.limit, "a list grew beyond \(limits.maxIterations) items")
        default:
            break
        }
    }

    /// Fails before building a string (padding, indentation, join) larger than the output limit.
    func checkAllocation(_ bytes: Int) throws(EvalError) {
        if bytes > limits.maxOutputBytes {
            throw EvalError(.limit, "would build a string of \(bytes) bytes, over the output limit of \(limits.maxOutputBytes)")
        }
    }

    // MARK: Statements

    func execute(_ statements: [Statement]) throws(EvalError) -> Flow {
        try enterNesting()
        defer { depth -= 1 }
        for statement in statements {
            let flow = try locate(statement.offset) { () throws(EvalError) in try execute(statement) }
            if flow != .normal { return flow }
        }
        return .normal
    }

    func enterNesting() throws(EvalError) {
        depth += 1
        if depth > Interpreter.maxDepth {
            throw EvalError(.limit, "template evaluation nested deeper than \(Interpreter.maxDepth) levels (runaway macro recursion?)")
        }
    }

    /// Attaches `offset` to errors that do not have a position yet.
    func locate<T>(_ offset: Int, _ body: () throws(EvalError) -> T) throws(EvalError) -> T {
        do {
            return try body()
        } catch {
            var located = error
            if located.offset == nil { located.offset = offset }
            throw located
        }
    }

    func execute(_ statement: Statement) throws(EvalError) -> Flow {
        switch statement.kind {
        case .text(let text):
            try write(text)
        case .output(let expr):
            try write(try evaluate(expr).pythonString)
        case .ifChain(let branches, let otherwise):
            for branch in branches {
                if try evaluate(branch.condition).isTruthy { return try execute(branch.body) }
            }
            return try execute(otherwise)
        case .forLoop(let loop):
            try executeFor(loop)
        case .assign(let target, let expr):
            try assign(try evaluate(expr), to: target)
        case .assignBlock(let target, let filters, let body):
            var value = JinjaValue.string(try capture { () throws(EvalError) in _ = try execute(body) })
            for filter in filters { value = try applyFilter(filter, to: value) }
            try assign(value, to: target)
        case .macro(let definition):
            macros.append((definition, scope))
            scope.variables[definition.name] = .object(JinjaObject(.macro(id: macros.count - 1, name: definition.name)))
        case .callBlock(let call, let caller):
            macros.append((caller, scope))
            let callerValue = JinjaValue.object(JinjaObject(.macro(id: macros.count - 1, name: "caller")))
            guard case .call(let callee, let arguments) = call.kind else { return .normal }
            let value = try locate(call.offset) { () throws(EvalError) in
                try callValue(try evaluate(callee), arguments: arguments, extraKeywords: [("caller", callerValue)],
                              calleeExpr: callee)
            }
            try write(value.pythonString)
        case .filterBlock(let filters, let body):
            var value = JinjaValue.string(try capture { () throws(EvalError) in _ = try execute(body) })
            for filter in filters { value = try applyFilter(filter, to: value) }
            try write(value.pythonString)
        case .scoped(let assignments, let body):
            let values = try assignments.map { (pair) throws(EvalError) in try evaluate(pair.1) }
            return try withScope { () throws(EvalError) in
                for (pair, value) in zip(assignments, values) { try assign(value, to: pair.0) }
                return try execute(body)
            }
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    /// Binds a value to a `set`/`for` target in the current scope.
    func assign(_ value: JinjaValue, to target: AssignTarget) throws(EvalError) {
        switch target {
        case .name(let name):
            scope.variables[name] = value
        case .tuple(let names):
            let items = try unpack(value, count: names.count)
            for (name, item) in zip(names, items) { scope.variables[name] = item }
        case .namespaceAttribute(let name, let attribute):
            guard case .object(let object)? = scope.lookup(name), case .namespace(let id) = object.kind else {
                throw EvalError(.runtime, "cannot assign attribute '\(attribute)' on '\(name)', which is not a namespace()")
            }
            namespaces[id][attribute] = value
        }
    }

    func unpack(_ value: JinjaValue, count: Int) throws(EvalError) -> [JinjaValue] {
        let items = try iterate(value)
        if items.count < count {
            throw EvalError(.type, "not enough values to unpack (expected \(count), got \(items.count))")
        }
        if items.count > count { throw EvalError(.type, "too many values to unpack (expected \(count))") }
        return items
    }

    /// The items a `for` loop visits: list items, dict keys, string characters; undefined is empty.
    func iterate(_ value: JinjaValue) throws(EvalError) -> [JinjaValue] {
        switch value {
        case .array(let items): return items
        case .dictionary(let dict): return dict.keys
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        case .object(let object):
            guard case .iterator(_, let items) = object.kind else { fallthrough }
            return items
        default: throw EvalError(.type, "'\(value.typeName)' object is not iterable")
        }
    }

    func executeFor(_ loop: ForLoop) throws(EvalError) {
        if loop.isRecursive { throw EvalError(.syntax, "recursive for loops are not supported") }
        let iterable = try evaluate(loop.iterable)
        var items = try locate(loop.iterable.offset) { () throws(EvalError) in try iterate(iterable) }
        if let condition = loop.condition {
            var kept: [JinjaValue] = []
            for item in items {
                let keep = try withScope { () throws(EvalError) in
                    try assign(item, to: loop.target)
                    return try evaluate(condition).isTruthy
                }
                if keep { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise)
            return
        }
        for (i, item) in items.enumerated() {
            try countIteration()
            let flow = try withScope { () throws(EvalError) in
                scope.variables["loop"] = loopValue(index: i, items: items)
                try assign(item, to: loop.target)
                return try execute(loop.body)
            }
            if flow == .breakLoop { break }
        }
    }

    /// The `loop` variable of iteration `index`.
    func loopValue(index: Int, items: [JinjaValue]) -> JinjaValue {
        let count = items.count
        var loop: JinjaDictionary = [
            "index": .int(index + 1), "index0": .int(index),
            "revindex": .int(count - index), "revindex0": .int(count - index - 1),
            "first": .bool(index == 0), "last": .bool(index == count - 1), "length": .int(count),
            "depth": 1, "depth0": 0,
            "cycle": .object(JinjaObject(.loopCycle(index0: index))),
        ]
        if index > 0 { loop["previtem"] = items[index - 1] }
        if index + 1 < count { loop["nextitem"] = items[index + 1] }
        return .dictionary(loop)
    }

    // MARK: Macros

    func callMacro(id: Int, positional: [JinjaValue], keywords: [(String, JinjaValue)]) throws(EvalError)
        -> JinjaValue
    {
        let (definition, definingScope) = macros[id]
        try countIteration()
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > limits.maxCallDepth {
            throw EvalError(.limit, "macro calls nested deeper than \(limits.maxCallDepth) (runaway recursion in '\(definition.name)'?)")
        }
        let name = definition.name
        let parameters = definition.parameters
        if positional.count > parameters.count && !definition.acceptsVarargs {
            throw EvalError(.type, "macro '\(name)' takes not more than \(parameters.count) argument(s)")
        }
        let frame = Scope(parent: definingScope)
        var extraKeywords = JinjaDictionary()
        var bound: [String: JinjaValue] = [:]
        for (key, value) in keywords {
            if key == "caller" && definition.acceptsCaller {
                frame.variables["caller"] = value
            } else if parameters.contains(where: { $0.name == key }) {
                bound[key] = value
            } else if definition.acceptsKwargs {
                extraKeywords[key] = value
            } else {
                throw EvalError(.type, "macro '\(name)' takes no keyword argument '\(key)'")
            }
        }
        return try withScope(frame) { () throws(EvalError) in
            for (i, parameter) in parameters.enumerated() {
                if i < positional.count {
                    if bound[parameter.name] != nil {
                        throw EvalError(.type, "macro '\(name)' got multiple values for argument '\(parameter.name)'")
                    }
                    frame.variables[parameter.name] = positional[i]
                } else if let value = bound[parameter.name] {
                    frame.variables[parameter.name] = value
                } else if let defaultValue = parameter.defaultValue {
                    frame.variables[parameter.name] = try evaluate(defaultValue)
                } else {
                    frame.variables[parameter.name] = .undefined
                }
            }
            if definition.acceptsVarargs {
                frame.variables["varargs"] = .array(Array(positional.dropFirst(parameters.count)))
            }
            if definition.acceptsKwargs { frame.variables["kwargs"] = .dictionary(extraKeywords) }
            let text = try capture { () throws(EvalError) in _ = try execute(definition.body) }
            return .string(text)
        }
    }
}

/// Builds the statement tree from tokens, following jinja2's grammar (parser.py) for the statements chat templates
/// use: `if`/`elif`/`else`, `for` (with `if` filter, `else`, `recursive`), `set` (plain, tuple, namespace attribute,
/// block), `macro`, `call`, `filter`, `with`, `break`/`continue`, and Hugging Face's `generation` block.
struct Parser {
    var tokens: [Token]
    var index = 0
    /// Inside an `if` test/body or a conditional expression, where jinja2 defers unknown filters and tests to run
    /// time (so `{% if false %}{{ x | nope }}{% endif %}` renders).
    var softFrame = false
    var loopDepth = 0
    /// Guards against stack exhaustion on pathological nesting.
    var nestingDepth = 0
    static let maxNestingDepth = 200

    init(tokens: [Token]) { self.tokens = tokens }

    // MARK: Token cursor

    var current: Token { tokens[index] }

    func peek(_ n: Int = 1) -> Token { tokens[min(index + n, tokens.count - 1)] }

    mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    func isName(_ name: String, _ token: Token? = nil) -> Bool {
        if case .name(let n) = (token ?? current).kind { return n == name }
        return false
    }

    func isOp(_ op: String, _ token: Token? = nil) -> Bool {
        if case .op(let o) = (token ?? current).kind { return o == op }
        return false
    }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        index += 1
        return true
    }

    mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        index += 1
        return true
    }

    func describe(_ token: Token) -> String {
        switch token.kind {
        case .text: "template text"
        case .variableBegin: "'{{'"
        case .variableEnd: "end of print statement '}}'"
        case .blockBegin: "'{%'"
        case .blockEnd: "end of statement block '%}'"
        case .name(let n): "'\(n)'"
        case .string(let s): "string \(PythonText.repr(s))"
        case .integer(let i): "integer \(i)"
        case .float(let d): "float \(PythonFloat.repr(d))"
        case .op(let o): "'\(o)'"
        case .eof: "end of template"
        }
    }

    func fail(_ message: String, at token: Token? = nil) -> EvalError {
        EvalError(.syntax, message, at: (token ?? current).offset)
    }

    mutating func expectOp(_ op: String) throws(EvalError) {
        guard skipOp(op) else { throw fail("expected '\(op)', got \(describe(current))") }
    }

    mutating func expectName(_ name: String) throws(EvalError) {
        guard skipName(name) else { throw fail("expected '\(name)', got \(describe(current))") }
    }

    mutating func expectIdentifier() throws(EvalError) -> String {
        guard case .name(let n) = current.kind else { throw fail("expected a name, got \(describe(current))") }
        index += 1
        return n
    }

    mutating func expectBlockEnd() throws(EvalError) {
        guard current.kind == .blockEnd else {
            throw fail("expected end of statement block '%}', got \(describe(current))")
        }
        index += 1
    }

    mutating func enterNesting() throws(EvalError) {
        nestingDepth += 1
        if nestingDepth > Parser.maxNestingDepth {
            throw fail("template is nested more than \(Parser.maxNestingDepth) levels deep")
        }
    }

    // MARK: Statements

    /// Parses the whole template.
    mutating func parseTemplate() throws(EvalError) -> [Statement] {
        let (body, _) = try parseBody(until: [], opener: nil)
        return body
    }

    /// Parses statements until a `{% name %}` whose name is in `endNames`; consumes `{%` and that name and returns it.
    mutating func parseBody(until endNames: Set<String>, opener: Token?) throws(EvalError) -> ([Statement], String) {
        var body: [Statement] = []
        while true {
            let token = current
            switch token.kind {
            case .text(let text):
                index += 1
                body.append(Statement(kind: .text(text), offset: token.offset))
            case .variableBegin:
                index += 1
                let expr = try parseTuple()
                guard current.kind == .variableEnd else {
                    throw fail("expected end of print statement '}}', got \(describe(current))")
                }
                index += 1
                body.append(Statement(kind: .output(expr), offset: token.offset))
            case .blockBegin:
                if case .name(let name) = peek().kind, endNames.contains(name) {
                    index += 2
                    return (body, name)
                }
                index += 1
                body.append(contentsOf: try parseStatement(blockStart: token))
            case .eof:
                if endNames.isEmpty { return (body, "") }
                let wanted = endNames.sorted().map { "'\($0)'" }.joined(separator: " or ")
                throw fail("unexpected end of template: looking for \(wanted) to close the block opened here",
                           at: opener)
            default:
                throw fail("unexpected \(describe(token))")
            }
        }
    }

    /// Parses one `{% … %}` statement after its `{%`. Returns several statements for transparent blocks.
    mutating func parseStatement(blockStart: Token) throws(EvalError) -> [Statement] {
        try enterNesting()
        defer { nestingDepth -= 1 }
        let keywordToken = current
        guard case .name(let keyword) = keywordToken.kind else {
            throw fail("expected a statement name after '{%', got \(describe(current))")
        }
        index += 1
        let offset = blockStart.offset
        switch keyword {
        case "if": return [try parseIf(offset: offset, opener: blockStart)]
        case "for": return [try parseFor(offset: offset, opener: blockStart)]
        case "set": return [try parseSet(offset: offset, opener: blockStart)]
        case "macro": return [try parseMacro(offset: offset, opener: blockStart)]
        case "call": return [try parseCallBlock(offset: offset, opener: blockStart)]
        case "filter":
            let filters = try parseFilterChain(startInline: true)
            try expectBlockEnd()
            let body = try parseNestedBody(until: "endfilter", opener: blockStart)
            return [Statement(kind: .filterBlock(filters, body: body), offset: offset)]
        case "with": return [try parseWith(offset: offset, opener: blockStart)]
        case "break", "continue":
            guard loopDepth > 0 else { throw fail("'\(keyword)' used outside of a for loop", at: keywordToken) }
            try expectBlockEnd()
            return [Statement(kind: keyword == "break" ? .breakLoop : .continueLoop, offset: offset)]
        case "generation":
            // Hugging Face's AssistantTracker extension: renders its body unchanged.
            try expectBlockEnd()
            return try parseNestedBody(until: "endgeneration", opener: blockStart)
        default:
            throw fail("unknown tag '\(keyword)'", at: keywordToken)
        }
    }

    /// A body that must end with `{% endName %}`; consumes that closing tag.
    mutating func parseNestedBody(until endName: String, opener: Token) throws(EvalError) -> [Statement] {
        let savedSoft = softFrame
        softFrame = false
        defer { softFrame = savedSoft }
        let (body, _) = try parseBody(until: [endName], opener: opener)
        try expectBlockEnd()
        return body
    }

    mutating func parseIf(offset: Int, opener: Token) throws(EvalError) -> Statement {
        let savedSoft = softFrame
        softFrame = true
        defer { softFrame = savedSoft }
        var branches: [(condition: Expr, body: [Statement])] = []
        var otherwise: [Statement] = []
        var condition = try parseTuple(withConditional: false)
        while true {
            try expectBlockEnd()
            let (body, end) = try parseBody(until: ["elif", "else", "endif"], opener: opener)
            branches.append((condition, body))
            if end == "elif" {
                condition = try parseTuple(withConditional: false)
                continue
            }
            if end == "else" {
                try expectBlockEnd()
                (otherwise, _) = try parseBody(until: ["endif"], opener: opener)
            }
            try expectBlockEnd()
            return Statement(kind: .ifChain(branches, otherwise: otherwise), offset: offset)
        }
    }

    mutating func parseFor(offset: Int, opener: Token) throws(EvalError) -> Statement {
        let savedSoft = softFrame
        softFrame = false
        defer { softFrame = savedSoft }
        let target = try parseAssignTarget(allowNamespace: false)
        try expectName("in")
        let iterable = try parseTuple(withConditional: false, extraEnd: ["recursive"])
        var condition: Expr? = nil
        if skipName("if") { condition = try parseExpression() }
        let isRecursive = skipName("recursive")
        try expectBlockEnd()
        loopDepth += 1
        let (body, end) = try parseBody(until: ["endfor", "else"], opener: opener)
        loopDepth -= 1
        var otherwise: [Statement] = []
        if end == "else" {
            try expectBlockEnd()
            (otherwise, _) = try parseBody(until: ["endfor"], opener: opener)
        }
        try expectBlockEnd()
        let loop = ForLoop(target: target, iterable: iterable, condition: condition, body: body,
                           otherwise: otherwise, isRecursive: isRecursive)
        return Statement(kind: .forLoop(loop), offset: offset)
    }

    mutating func parseSet(offset: Int, opener: Token) throws(EvalError) -> Statement {
        let target = try parseAssignTarget(allowNamespace: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return Statement(kind: .assign(target, value), offset: offset)
        }
        let filters = isOp("|") ? try parseFilterChain(startInline: false) : []
        try expectBlockEnd()
        let body = try parseNestedBody(until: "endset", opener: opener)
        return Statement(kind: .assignBlock(target, filters: filters, body: body), offset: offset)
    }

    /// `name`, `a, b`, `(a, b)` or (for `set`) `ns.attr`.
    mutating func parseAssignTarget(allowNamespace: Bool) throws(EvalError) -> AssignTarget {
        if allowNamespace, case .name(let ns) = current.kind, isOp(".", peek()) {
            index += 2
            return .namespaceAttribute(ns, try expectIdentifier())
        }
        let parenthesized = skipOp("(")
        var names = [try expectIdentifier()]
        var isTuple = parenthesized
        while skipOp(",") {
            isTuple = true
            guard case .name(let n) = current.kind, !isName("in") else { break }
            index += 1
            names.append(n)
        }
        if parenthesized { try expectOp(")") }
        return isTuple ? .tuple(names) : .name(names[0])
    }

    /// `(a, b=default, …)` of a macro or call block.
    mutating func parseSignature() throws(EvalError) -> [MacroParameter] {
        try expectOp("(")
        var parameters: [MacroParameter] = []
        while !isOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectIdentifier()
            var defaultValue: Expr? = nil
            if skipOp("=") {
                defaultValue = try parseExpression()
            } else if parameters.contains(where: { $0.defaultValue != nil }) {
                throw fail("non-default argument '\(name)' follows default argument")
            }
            parameters.append(MacroParameter(name: name, defaultValue: defaultValue))
        }
        index += 1
        return parameters
    }

    /// Which special names a token range mentions (jinja2 lets macros take extra arguments only then).
    func mentions(_ name: String, from start: Int, to end: Int) -> Bool {
        tokens[start..<end].contains { if case .name(let n) = $0.kind { n == name } else { false } }
    }

    mutating func parseMacroBody(name: String, parameters: [MacroParameter], endName: String, opener: Token)
        throws(EvalError) -> MacroDefinition
    {
        let bodyStart = index
        let savedLoopDepth = loopDepth
        loopDepth = 0
        let body = try parseNestedBody(until: endName, opener: opener)
        loopDepth = savedLoopDepth
        return MacroDefinition(
            name: name, parameters: parameters, body: body,
            acceptsVarargs: mentions("varargs", from: bodyStart, to: index),
            acceptsKwargs: mentions("kwargs", from: bodyStart, to: index),
            acceptsCaller: mentions("caller", from: bodyStart, to: index))
    }

    mutating func parseMacro(offset: Int, opener: Token) throws(EvalError) -> Statement {
        let name = try expectIdentifier()
        let parameters = try parseSignature()
        try expectBlockEnd()
        let macro = try parseMacroBody(name: name, parameters: parameters, endName: "endmacro", opener: opener)
        return Statement(kind: .macro(macro), offset: offset)
    }

    mutating func parseCallBlock(offset: Int, opener: Token) throws(EvalError) -> Statement {
        let parameters = isOp("(") ? try parseSignature() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw fail("expected a call in the call block", at: opener) }
        try expectBlockEnd()
        let caller = try parseMacroBody(name: "caller", parameters: parameters, endName: "endcall", opener: opener)
        return Statement(kind: .callBlock(call: call, caller: caller), offset: offset)
    }

    mutating func parseWith(offset: Int, opener: Token) throws(EvalError) -> Statement {
        var assignments: [(AssignTarget, Expr)] = []
        while current.kind != .blockEnd {
            if !assignments.isEmpty { try expectOp(",") }
            let target = try parseAssignTarget(allowNamespace: false)
            try expectOp("=")
            assignments.append((target, try parseExpression()))
        }
        try expectBlockEnd()
        let body = try parseNestedBody(until: "endwith", opener: opener)
        return Statement(kind: .scoped(assignments: assignments, body: body), offset: offset)
    }
}

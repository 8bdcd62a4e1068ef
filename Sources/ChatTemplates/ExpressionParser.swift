/// Expression grammar, mirroring jinja2's precedence (lowest first): conditional `x if c else y`, `or`, `and`,
/// `not`, comparisons (`==`, `in`, `not in`, …), `+`/`-`, `~`, `*`/`/`/`//`/`%`, `**`, unary `-`/`+`, then
/// postfix (`.attr`, `[item]`, `(call)`) and filters/tests (`| f`, `is t`) which bind tighter than any operator.
extension Parser {
    /// A comma-separated expression list: one expression, or a tuple when there is a comma.
    mutating func parseTuple(withConditional: Bool = true, extraEnd: Set<String> = [],
                             explicitParentheses: Bool = false) throws(EvalError) -> Expr
    {
        let start = current
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(withConditional ? try parseExpression() : try parseOr())
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("expected an expression, got \(describe(current))") }
        }
        return Expr(kind: .tuple(items), offset: start.offset)
    }

    /// Counts one more node wrapped around an expression by a loop (`a ~ b ~ c`, `x.a.b`, `x|f|g`): such chains
    /// count toward the nesting limit because evaluating (and freeing) them recurses.
    mutating func deepen(_ chain: inout Int) throws(EvalError) {
        chain += 1
        try enterNesting()
    }

    func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .eof: return true
        case .op(")"): return true
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    mutating func parseExpression() throws(EvalError) -> Expr {
        try enterNesting()
        defer { nestingDepth -= 1 }
        var expr = try parseOr()
        var chain = 0
        defer { nestingDepth -= chain }
        while isName("if") {
            try deepen(&chain)
            let token = advance()
            let savedSoft = softFrame
            softFrame = true
            defer { softFrame = savedSoft }
            let condition = try parseOr()
            var otherwise: Expr? = nil
            if skipName("else") { otherwise = try parseExpression() }
            expr = Expr(kind: .conditional(condition: condition, then: expr, otherwise: otherwise),
                        offset: token.offset)
        }
        return expr
    }

    mutating func parseOr() throws(EvalError) -> Expr {
        var left = try parseAnd()
        var chain = 0
        defer { nestingDepth -= chain }
        while isName("or") {
            try deepen(&chain)
            let token = advance()
            left = Expr(kind: .or(left, try parseAnd()), offset: token.offset)
        }
        return left
    }

    mutating func parseAnd() throws(EvalError) -> Expr {
        var left = try parseNot()
        var chain = 0
        defer { nestingDepth -= chain }
        while isName("and") {
            try deepen(&chain)
            let token = advance()
            left = Expr(kind: .and(left, try parseNot()), offset: token.offset)
        }
        return left
    }

    mutating func parseNot() throws(EvalError) -> Expr {
        if isName("not") {
            let token = advance()
            try enterNesting()
            defer { nestingDepth -= 1 }
            return Expr(kind: .not(try parseNot()), offset: token.offset)
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws(EvalError) -> Expr {
        let first = try parseAdditive()
        var operations: [(op: CompareOperator, operand: Expr, offset: Int)] = []
        while true {
            let token = current
            let op: CompareOperator
            if case .op(let o) = token.kind, let c = CompareOperator(rawValue: o), c != .contains {
                op = c
                index += 1
            } else if isName("in") {
                op = .contains
                index += 1
            } else if isName("not"), isName("in", peek()) {
                op = .notContains
                index += 2
            } else {
                break
            }
            operations.append((op, try parseAdditive(), token.offset))
        }
        return operations.isEmpty ? first : Expr(kind: .compare(first, operations), offset: first.offset)
    }

    /// Left-associative binary operators at one precedence level.
    mutating func parseBinary(_ ops: [String: BinaryOperator],
                              operand: (inout Parser) throws(EvalError) -> Expr) throws(EvalError) -> Expr
    {
        var left = try operand(&self)
        var chain = 0
        defer { nestingDepth -= chain }
        while case .op(let o) = current.kind, let op = ops[o] {
            try deepen(&chain)
            let token = advance()
            left = Expr(kind: .binary(op, left, try operand(&self)), offset: token.offset)
        }
        return left
    }

    mutating func parseAdditive() throws(EvalError) -> Expr {
        try parseBinary(["+": .add, "-": .subtract]) { (p: inout Parser) throws(EvalError) in try p.parseConcat() }
    }

    mutating func parseConcat() throws(EvalError) -> Expr {
        try parseBinary(["~": .concat]) { (p: inout Parser) throws(EvalError) in try p.parseMultiplicative() }
    }

    mutating func parseMultiplicative() throws(EvalError) -> Expr {
        try parseBinary(["*": .multiply, "/": .divide, "//": .floorDivide, "%": .modulo]) {
            (p: inout Parser) throws(EvalError) in try p.parsePower()
        }
    }

    mutating func parsePower() throws(EvalError) -> Expr {
        try parseBinary(["**": .power]) { (p: inout Parser) throws(EvalError) in try p.parseUnary() }
    }

    mutating func parseUnary(withFilters: Bool = true) throws(EvalError) -> Expr {
        try enterNesting()
        defer { nestingDepth -= 1 }
        let token = current
        var expr: Expr
        if skipOp("-") {
            expr = Expr(kind: .negate(try parseUnary(withFilters: false)), offset: token.offset)
        } else if skipOp("+") {
            expr = Expr(kind: .unaryPlus(try parseUnary(withFilters: false)), offset: token.offset)
        } else {
            expr = try parsePrimary()
        }
        expr = try parsePostfix(expr)
        if withFilters { expr = try parseFilterExpression(expr) }
        return expr
    }

    mutating func parsePrimary() throws(EvalError) -> Expr {
        let token = current
        switch token.kind {
        case .name(let n):
            index += 1
            switch n {
            case "true", "True": return Expr(kind: .literal(.bool(true)), offset: token.offset)
            case "false", "False": return Expr(kind: .literal(.bool(false)), offset: token.offset)
            case "none", "None": return Expr(kind: .literal(.none), offset: token.offset)
            default: return Expr(kind: .name(n), offset: token.offset)
            }
        case .string(var s):
            index += 1
            while case .string(let more) = current.kind {
                s += more
                index += 1
            }
            return Expr(kind: .literal(.string(s)), offset: token.offset)
        case .integer(let i):
            index += 1
            return Expr(kind: .literal(.int(i)), offset: token.offset)
        case .float(let d):
            index += 1
            return Expr(kind: .literal(.double(d)), offset: token.offset)
        case .op("("):
            index += 1
            let expr = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return expr
        case .op("["):
            index += 1
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            index += 1
            return Expr(kind: .list(items), offset: token.offset)
        case .op("{"):
            index += 1
            var pairs: [(key: Expr, value: Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            index += 1
            return Expr(kind: .dict(pairs), offset: token.offset)
        default:
            throw fail("unexpected \(describe(token)) in expression")
        }
    }

    /// `.attr`, `[index]`, `[a:b:c]` and `(arguments)` after a primary.
    mutating func parsePostfix(_ base: Expr) throws(EvalError) -> Expr {
        var expr = base
        var chain = 0
        defer { nestingDepth -= chain }
        while true {
            let token = current
            if isOp(".") || isOp("[") || isOp("(") { try deepen(&chain) }
            if skipOp(".") {
                let nameToken = current
                switch nameToken.kind {
                case .name(let n):
                    index += 1
                    expr = Expr(kind: .attribute(expr, n), offset: nameToken.offset)
                case .integer(let i):
                    index += 1
                    expr = Expr(kind: .item(expr, Expr(kind: .literal(.int(i)), offset: nameToken.offset)),
                                offset: nameToken.offset)
                default:
                    throw fail("expected an attribute name after '.', got \(describe(nameToken))")
                }
            } else if skipOp("[") {
                var subscripts: [Expr] = []
                while !isOp("]") {
                    if !subscripts.isEmpty { try expectOp(",") }
                    subscripts.append(try parseSubscript(of: expr))
                }
                index += 1
                if subscripts.count == 1, case .slice = subscripts[0].kind {
                    expr = subscripts[0]
                } else {
                    let key = subscripts.count == 1
                        ? subscripts[0] : Expr(kind: .tuple(subscripts), offset: token.offset)
                    expr = Expr(kind: .item(expr, key), offset: token.offset)
                }
            } else if isOp("(") {
                expr = Expr(kind: .call(expr, try parseCallArguments()), offset: expr.offset)
            } else {
                return expr
            }
        }
    }

    /// One subscript: an expression or a slice `start:stop:step` (each part optional).
    mutating func parseSubscript(of base: Expr) throws(EvalError) -> Expr {
        let token = current
        var start: Expr? = nil
        if !isOp(":") {
            let expr = try parseExpression()
            if !isOp(":") { return expr }
            start = expr
        }
        index += 1
        var stop: Expr? = nil
        if !isOp(":") && !isOp("]") && !isOp(",") { stop = try parseExpression() }
        var step: Expr? = nil
        if skipOp(":"), !isOp("]") && !isOp(",") { step = try parseExpression() }
        return Expr(kind: .slice(base, start: start, stop: stop, step: step), offset: token.offset)
    }

    /// `(a, b, key=value, *rest, **more)`.
    mutating func parseCallArguments() throws(EvalError) -> Arguments {
        let open = current
        try expectOp("(")
        var arguments = Arguments()
        var requireComma = false
        let invalid = fail("invalid syntax for function call expression", at: open)
        while !isOp(")") {
            if requireComma {
                try expectOp(",")
                if isOp(")") { break }
            }
            if skipOp("*") {
                guard arguments.spread == nil, arguments.keywordSpread == nil else { throw invalid }
                arguments.spread = try parseExpression()
            } else if skipOp("**") {
                guard arguments.keywordSpread == nil else { throw invalid }
                arguments.keywordSpread = try parseExpression()
            } else if case .name(let n) = current.kind, isOp("=", peek()) {
                guard arguments.keywordSpread == nil else { throw invalid }
                index += 2
                arguments.keyword.append((n, try parseExpression()))
            } else {
                guard arguments.spread == nil, arguments.keywordSpread == nil, arguments.keyword.isEmpty else {
                    throw invalid
                }
                arguments.positional.append(try parseExpression())
            }
            requireComma = true
        }
        index += 1
        return arguments
    }

    /// Filters (`| name(args)`), tests (`is [not] name args`) and calls after an operand.
    mutating func parseFilterExpression(_ base: Expr) throws(EvalError) -> Expr {
        var expr = base
        var chain = 0
        defer { nestingDepth -= chain }
        while true {
            if isOp("|") || isName("is") || isOp("(") { try deepen(&chain) }
            if isOp("|") {
                for filter in try parseFilterChain(startInline: false) {
                    try deepen(&chain)
                    expr = Expr(kind: .filter(expr, filter), offset: filter.offset)
                }
            } else if isName("is") {
                expr = try parseTest(expr)
            } else if isOp("(") {
                expr = Expr(kind: .call(expr, try parseCallArguments()), offset: expr.offset)
            } else {
                return expr
            }
        }
    }

    /// `| a(args) | b` (or, for filter blocks, `a(args) | b` without the leading pipe).
    mutating func parseFilterChain(startInline: Bool) throws(EvalError) -> [FilterCall] {
        var filters: [FilterCall] = []
        var inline = startInline
        while inline || isOp("|") {
            if !inline { index += 1 }
            inline = false
            let nameToken = current
            var name = try expectIdentifier()
            while skipOp(".") { name += "." + (try expectIdentifier()) }
            try checkKnown(name, isFilter: true, at: nameToken)
            let arguments = isOp("(") ? try parseCallArguments() : .none
            filters.append(FilterCall(name: name, arguments: arguments, offset: nameToken.offset))
        }
        return filters
    }

    mutating func parseTest(_ base: Expr) throws(EvalError) -> Expr {
        let isToken = advance()
        let negated = skipName("not")
        let nameToken = current
        var name = try expectIdentifier()
        while skipOp(".") { name += "." + (try expectIdentifier()) }
        try checkKnown(name, isFilter: false, at: nameToken)
        var arguments = Arguments.none
        switch current.kind {
        case .op("("):
            arguments = try parseCallArguments()
        case .name("else"), .name("or"), .name("and"):
            break
        case .name("is"):
            throw fail("you cannot chain multiple tests with 'is'")
        case .name, .string, .integer, .float, .op("["), .op("{"):
            arguments.positional = [try parsePostfix(try parsePrimary())]
        default:
            break
        }
        return Expr(kind: .test(base, name: name, arguments, negated: negated), offset: isToken.offset)
    }

    /// jinja2 rejects an unknown filter or test at compile time unless it sits inside an `if` or a conditional
    /// expression, where the error is deferred until it is actually used.
    func checkKnown(_ name: String, isFilter: Bool, at token: Token) throws(EvalError) {
        let known = isFilter ? Filters.jinjaNames : JinjaTests.jinjaNames
        if known.contains(name) || softFrame { return }
        throw fail("no \(isFilter ? "filter" : "test") named '\(name)'", at: token)
    }
}

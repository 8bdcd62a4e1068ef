/// An expression node. `offset` is the source position (in Unicode scalars) reported in errors: the operator for
/// binary expressions, the filter or test name, the attribute name, the callee for calls.
struct Expr: Sendable {
    indirect enum Kind: Sendable {
        case literal(JinjaValue)
        case name(String)
        case list([Expr])
        /// A tuple (`a, b` or `(a, b)`); evaluates to a list.
        case tuple([Expr])
        case dict([(key: Expr, value: Expr)])
        /// `value.name`
        case attribute(Expr, String)
        /// `value[index]`
        case item(Expr, Expr)
        /// `value[start:stop:step]`
        case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
        case call(Expr, Arguments)
        /// `value | name(arguments)`
        case filter(Expr, FilterCall)
        /// `value is [not] name(arguments)`
        case test(Expr, name: String, Arguments, negated: Bool)
        case not(Expr)
        case negate(Expr)
        case unaryPlus(Expr)
        case binary(BinaryOperator, Expr, Expr)
        /// A comparison chain `a < b <= c` (Python semantics: pairwise, short-circuit).
        case compare(Expr, [(op: CompareOperator, operand: Expr, offset: Int)])
        case and(Expr, Expr)
        case or(Expr, Expr)
        /// `then if condition else otherwise`; no `else` gives undefined when the condition is false.
        case conditional(condition: Expr, then: Expr, otherwise: Expr?)
    }

    var kind: Kind
    var offset: Int
}

enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
    case concat = "~"
}

enum CompareOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    case contains = "in", notContains = "not in"
}

/// Call arguments: positional, keyword, and `*args` / `**kwargs` spreads.
struct Arguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(name: String, value: Expr)] = []
    var spread: Expr? = nil
    var keywordSpread: Expr? = nil

    static let none = Arguments()
}

/// A filter application `| name(arguments)`.
struct FilterCall: Sendable {
    var name: String
    var arguments: Arguments
    var offset: Int
}

/// The left side of `set`/`for`: a name, several names, or a namespace attribute (`ns.count`).
enum AssignTarget: Sendable {
    case name(String)
    case tuple([String])
    case namespaceAttribute(String, String)
}

/// A macro (or call-block `caller`) parameter.
struct MacroParameter: Sendable {
    var name: String
    var defaultValue: Expr?
}

/// `{% macro name(parameters) %}body{% endmacro %}` and the anonymous `caller` of a call block.
struct MacroDefinition: Sendable {
    var name: String
    var parameters: [MacroParameter]
    var body: [Statement]
    /// Whether the body mentions `varargs`, `kwargs`, `caller` (jinja2 only accepts extra arguments then).
    var acceptsVarargs: Bool
    var acceptsKwargs: Bool
    var acceptsCaller: Bool
}

struct ForLoop: Sendable {
    var target: AssignTarget
    var iterable: Expr
    var condition: Expr?
    var body: [Statement]
    var otherwise: [Statement]
    var isRecursive: Bool
}

/// A statement (template node). `offset` is where its tag starts.
struct Statement: Sendable {
    indirect enum Kind: Sendable {
        case text(String)
        case output(Expr)
        case ifChain([(condition: Expr, body: [Statement])], otherwise: [Statement])
        case forLoop(ForLoop)
        case assign(AssignTarget, Expr)
        /// `{% set x | filters %}body{% endset %}`
        case assignBlock(AssignTarget, filters: [FilterCall], body: [Statement])
        case macro(MacroDefinition)
        /// `{% call(parameters) macro(arguments) %}body{% endcall %}`
        case callBlock(call: Expr, caller: MacroDefinition)
        case filterBlock([FilterCall], body: [Statement])
        /// `{% with a = 1 %}body{% endwith %}`
        case scoped(assignments: [(AssignTarget, Expr)], body: [Statement])
        case breakLoop
        case continueLoop
    }

    var kind: Kind
    var offset: Int
}

import Foundation
import Testing
import ChatTemplates

/// A template that must fail, with where and how.
struct ErrorCase: Sendable, CustomStringConvertible {
    var source: String
    var kind: TemplateError.Kind
    var line: Int
    var column: Int
    /// A fragment the message must contain.
    var message: String

    init(_ source: String, _ kind: TemplateError.Kind, _ line: Int, _ column: Int, _ message: String) {
        self.source = source
        self.kind = kind
        self.line = line
        self.column = column
        self.message = message
    }

    var description: String { source.debugDescription }
}

/// Every error names its kind, line and column; none crashes.
@Suite struct ErrorTests {
    static let cases: [ErrorCase] = [
        // Syntax errors (compile time).
        ErrorCase("line one\n  {% frobnicate %}", .syntax, 2, 6, "unknown tag 'frobnicate'"),
        ErrorCase("{% if true %}\nopen", .syntax, 1, 1, "'elif' or 'else' or 'endif'"),
        ErrorCase("{% for x in items %}{{ x }}", .syntax, 1, 1, "'else' or 'endfor'"),
        ErrorCase("ok\n{% endif %}", .syntax, 2, 4, "unknown tag 'endif'"),
        ErrorCase("{{ 1 + }}", .syntax, 1, 8, "unexpected end of print statement"),
        ErrorCase("\n\n{{ 'abc }}", .syntax, 3, 4, "unterminated string"),
        ErrorCase("a\n{# never closed", .syntax, 2, 1, "missing end of comment"),
        ErrorCase("{{ 'a' ", .syntax, 1, 1, "unexpected end of template"),
        ErrorCase("{{ x | nosuch }}", .syntax, 1, 8, "no filter named 'nosuch'"),
        ErrorCase("{{ 1 is nosuch }}", .syntax, 1, 9, "no test named 'nosuch'"),
        ErrorCase("{% macro m() %}{{ x | from_json }}{% endmacro %}", .syntax, 1, 23, "no filter named 'from_json'"),
        ErrorCase("{% break %}", .syntax, 1, 4, "outside of a for loop"),
        ErrorCase("{{ (1 + 2 }}", .syntax, 1, 11, "unexpected '}'"),
        ErrorCase("{% if true %}{% else %}{% else %}{% endif %}", .syntax, 1, 27, "unknown tag 'else'"),
        // Runtime errors.
        ErrorCase("{% if true %}{{ x | from_json }}{% endif %}", .syntax, 1, 21, "no filter named 'from_json'"),
        ErrorCase("text\n{{ nope.attr }}", .undefined, 2, 4, "'nope' is undefined"),
        ErrorCase("{{ user.missing.deeper }}", .undefined, 1, 9, "'user.missing' is undefined"),
        ErrorCase("{{ 1 + 'a' }}", .type, 1, 6, "unsupported operand type(s) for +: 'int' and 'str'"),
        ErrorCase("{{ 'a' + 1 }}", .type, 1, 8, "can only concatenate str"),
        ErrorCase("{{ raise_exception('Roles must alternate') }}", .raised, 1, 4, "Roles must alternate"),
        ErrorCase("{{ [].append(1) }}", .security, 1, 7, "unsafe"),
        ErrorCase("{{ user.update({}) }}", .security, 1, 9, "unsafe"),
        ErrorCase("{{ 1 // 0 }}", .runtime, 1, 6, "division or modulo by zero"),
        ErrorCase("{% for x in 42 %}{% endfor %}", .type, 1, 13, "'int' object is not iterable"),
        ErrorCase("{{ missing | tojson }}", .type, 1, 14, "Undefined is not JSON serializable"),
        ErrorCase("{{ items | map('string') | tojson }}", .type, 1, 28, "generator is not JSON serializable"),
        ErrorCase("{{ 1 < 'a' }}", .type, 1, 6, "'<' not supported"),
        ErrorCase("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", .type, 1, 34, "takes not more than 1 argument"),
        ErrorCase("{% set x = 1 %}{% set x.y = 2 %}", .runtime, 1, 16, "not a namespace"),
        ErrorCase("{{ 'x'() }}", .type, 1, 4, "'str' object is not callable"),
        ErrorCase("{{ nope() }}", .undefined, 1, 4, "'nope' is undefined"),
        ErrorCase("{% for a, b in [[1, 2, 3]] %}{% endfor %}", .type, 1, 1, "too many values to unpack"),
    ]

    @Test(arguments: cases)
    func errorHasKindAndPosition(_ c: ErrorCase) throws {
        let error = try #require(renderError(c.source))
        #expect(error.kind == c.kind, "\(error)")
        #expect(error.line == c.line && error.column == c.column, "\(error) at \(error.line):\(error.column)")
        #expect(error.message.contains(c.message), "\(error.message)")
        #expect(error.description.contains("line \(c.line), column \(c.column)"))
    }

    @Test func raisedMessageIsExact() {
        let error = renderError("{{ raise_exception('After the optional system message, roles must alternate') }}")
        #expect(error?.kind == .raised)
        #expect(error?.message == "After the optional system message, roles must alternate")
    }
}

/// Hostile templates hit a limit instead of hanging or exhausting memory.
@Suite struct LimitTests {
    static let hostile: [String] = [
        // Runaway recursion.
        "{% macro r(n) %}{% for i in [n] %}{% if true %}{{ r(i + 1) }}{% endif %}{% endfor %}{% endmacro %}{{ r(0) }}",
        // Too many iterations.
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        // Too much output.
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
        // Exponential string growth.
        "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        // Exponential list growth.
        "{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
        // Huge allocations in a single operation.
        "{{ 'x' * 10000000000 }}",
        "{{ [1] * 10000000000 }}",
        "{{ range(10000000) | length }}",
        "{{ 'x' | center(10000000000) }}",
        "{{ 'x'.ljust(10000000000) }}",
        "{{ 'a\nb' | indent(10000000000) }}",
        "{{ [1, 2] | tojson(indent=10000000000) }}",
        "{{ ('x' * 5000) | replace('', 'x' * 5000) }}",
        "{{ range(100000) | join('x' * 10000) }}",
        "{{ 2 ** 100 }}",
    ]

    @Test(arguments: hostile)
    func hostileTemplateHitsALimit(_ source: String) throws {
        let error = try #require(renderError(source))
        #expect(error.kind == .limit || error.kind == .runtime, "\(error)")
    }

    /// Deep nesting and runaway recursion end in an error, not a crash, even on a thread with a 512 KiB stack
    /// (the size of secondary threads and Swift concurrency threads on macOS).
    @Test func deepRecursionFitsASmallStack() throws {
        let nested = String(repeating: "{% if true %}", count: 150) + "{{ r(n + 1) }}" + String(repeating: "{% endif %}", count: 150)
        let parens = String(repeating: "(", count: 99) + "1" + String(repeating: ")", count: 99)
        let cases: [(source: String, expected: TemplateError.Kind?)] = [
            ("{% macro r(n) %}\(nested){% endmacro %}{{ r(0) }}", .limit),
            ("{% macro r(n) %}{{ ((((((((((r(n + 1)|trim)|trim)|trim)|trim)|trim)|trim)|trim)|trim)|trim)|trim) }}{% endmacro %}{{ r(0) }}", .limit),
            ("{{ x" + String(repeating: "|trim", count: 190) + " }}", nil),
            ("{{ \(parens) }}", nil),
            ("{{ " + String(repeating: "not ", count: 190) + "false }}", nil),
            (String(repeating: "{% if true %}", count: 199) + "deep" + String(repeating: "{% endif %}", count: 199), nil),
            (String(repeating: "{% for i in [1] %}", count: 199) + "{{ ((i)) }}" + String(repeating: "{% endfor %}", count: 199), .syntax),
        ]
        for c in cases {
            let box = ResultBox()
            let thread = Thread {
                box.error = renderError(c.source, limits: TemplateLimits(maxCallDepth: 1000))
                box.done.signal()
            }
            thread.stackSize = 512 << 10
            thread.start()
            box.done.wait()
            #expect(box.error?.kind == c.expected, "\(String(describing: box.error))")
        }
    }

    @Test func slowTemplateHitsTheDeadline() throws {
        let limits = TemplateLimits(maxDuration: .milliseconds(200))
        let source = "{% set big = range(100000) | list %}{% for i in range(100000) %}{% if -1 in big %}{% endif %}{% endfor %}"
        let clock = ContinuousClock()
        let start = clock.now
        let error = try #require(renderError(source, limits: limits))
        #expect(error.kind == .limit)
        #expect(clock.now - start < .seconds(5))
    }

    @Test func limitsAreConfigurable() {
        let small = TemplateLimits(maxOutputBytes: 10)
        #expect(renderError("{{ 'x' * 11 }}", limits: small)?.kind == .limit)
        #expect(renderError("{{ 'x' * 10 }}", limits: small) == nil)
        #expect(renderError("{% for i in range(5) %}{% endfor %}", limits: TemplateLimits(maxIterations: 4))?.kind == .limit)
    }
}

/// Carries a render result out of a `Thread`.
final class ResultBox: @unchecked Sendable {
    // Safe: `error` is written once by the worker thread before it signals `done`, and read only after `done`
    // has been waited for (the semaphore orders the accesses).
    var error: TemplateError?
    let done = DispatchSemaphore(value: 0)
}

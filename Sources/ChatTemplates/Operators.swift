import Foundation

/// Python semantics of the binary and comparison operators on template values.
enum Operators {
    static func binary(_ op: BinaryOperator, _ a: JinjaValue, _ b: JinjaValue, limits: TemplateLimits)
        throws(EvalError) -> JinjaValue
    {
        if let x = a.number, let y = b.number { return try arithmetic(op, x, y) }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)):
            return .string(x + y)
        case (.add, .array(let x), .array(let y)):
            return .array(x + y)
        case (.add, .string, _):
            throw EvalError(.type, "can only concatenate str (not \"\(b.typeName)\") to str (use '~' to join values as text)")
        case (.add, .array, _):
            throw EvalError(.type, "can only concatenate list (not \"\(b.typeName)\") to list")
        case (.multiply, .string(let s), _), (.multiply, _, .string(let s)):
            guard let n = (a.stringValue == nil ? a : b).integerIndex else { break }
            try checkRepeat(count: n, unitBytes: s.utf8.count, limits: limits)
            return .string(n > 0 ? String(repeating: s, count: n) : "")
        case (.multiply, .array(let items), _), (.multiply, _, .array(let items)):
            guard let n = (a.arrayValue == nil ? a : b).integerIndex else { break }
            try checkRepeat(count: n, unitBytes: items.count * 16, limits: limits)
            return .array(n > 0 ? Array([[JinjaValue]](repeating: items, count: n).joined()) : [])
        case (.modulo, .string(let format), _):
            return .string(try PythonFormat.percent(format, b))
        default:
            break
        }
        throw EvalError(.type, "unsupported operand type(s) for \(op.rawValue): '\(a.typeName)' and '\(b.typeName)'")
    }

    private static func checkRepeat(count: Int, unitBytes: Int, limits: TemplateLimits) throws(EvalError) {
        let (total, overflow) = count.multipliedReportingOverflow(by: max(unitBytes, 1))
        if overflow || total > limits.maxOutputBytes {
            throw EvalError(.limit, "repetition would produce more than \(limits.maxOutputBytes) bytes")
        }
    }

    static func arithmetic(_ op: BinaryOperator, _ a: JinjaValue.Number, _ b: JinjaValue.Number)
        throws(EvalError) -> JinjaValue
    {
        if case .int(let x) = a, case .int(let y) = b { return try integerArithmetic(op, x, y) }
        let x = a.asDouble
        let y = b.asDouble
        switch op {
        case .add: return .double(x + y)
        case .subtract: return .double(x - y)
        case .multiply: return .double(x * y)
        case .divide:
            if y == 0 { throw EvalError(.runtime, "float division by zero") }
            return .double(x / y)
        case .floorDivide:
            if y == 0 { throw EvalError(.runtime, "float floor division by zero") }
            return .double((x / y).rounded(.down))
        case .modulo:
            if y == 0 { throw EvalError(.runtime, "float modulo") }
            let r = fmod(x, y)
            return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case .power:
            return .double(pow(x, y))
        case .concat:
            return .string(JinjaValue.double(x).pythonString + JinjaValue.double(y).pythonString)
        }
    }

    private static func integerArithmetic(_ op: BinaryOperator, _ x: Int, _ y: Int) throws(EvalError) -> JinjaValue {
        let overflow = EvalError(.runtime, "integer overflow in \(x) \(op.rawValue) \(y)")
        switch op {
        case .add:
            let (r, o) = x.addingReportingOverflow(y)
            if o { throw overflow }
            return .int(r)
        case .subtract:
            let (r, o) = x.subtractingReportingOverflow(y)
            if o { throw overflow }
            return .int(r)
        case .multiply:
            let (r, o) = x.multipliedReportingOverflow(by: y)
            if o { throw overflow }
            return .int(r)
        case .divide:
            if y == 0 { throw EvalError(.runtime, "division by zero") }
            return .double(Double(x) / Double(y))
        case .floorDivide, .modulo:
            if y == 0 { throw EvalError(.runtime, "integer division or modulo by zero") }
            if x == Int.min && y == -1 { throw overflow }
            var q = x / y
            var r = x % y
            if r != 0 && (r < 0) != (y < 0) {
                q -= 1
                r += y
            }
            return .int(op == .floorDivide ? q : r)
        case .power:
            if y < 0 { return .double(pow(Double(x), Double(y))) }
            var result = 1
            var base = x
            var e = y
            while e > 0 {
                if e & 1 == 1 {
                    let (r, o) = result.multipliedReportingOverflow(by: base)
                    if o { throw overflow }
                    result = r
                }
                e >>= 1
                if e > 0 {
                    let (b, o) = base.multipliedReportingOverflow(by: base)
                    if o { throw overflow }
                    base = b
                }
            }
            return .int(result)
        case .concat:
            return .string(String(x) + String(y))
        }
    }

    static func compare(_ op: CompareOperator, _ a: JinjaValue, _ b: JinjaValue) throws(EvalError) -> Bool {
        switch op {
        case .equal: return a == b
        case .notEqual: return a != b
        case .contains: return try contains(b, a)
        case .notContains: return !(try contains(b, a))
        case .less: return try order(a, b, op) < 0
        case .lessOrEqual: return try order(a, b, op) <= 0
        case .greater: return try order(a, b, op) > 0
        case .greaterOrEqual: return try order(a, b, op) >= 0
        }
    }

    /// Python `needle in container`.
    static func contains(_ container: JinjaValue, _ needle: JinjaValue) throws(EvalError) -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw EvalError(.type, "'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return n.isEmpty || !SubstringSearch.starts(of: Array(n.unicodeScalars), in: Array(s.unicodeScalars)).isEmpty
        case .array(let items): return items.contains(needle)
        case .dictionary(let dict):
            switch needle {
            case .array, .dictionary: throw EvalError(.type, "unhashable type: '\(needle.typeName)'")
            default: return dict[needle] != nil
            }
        case .undefined: return false
        case .object(let object):
            guard case .iterator(_, let items) = object.kind else { fallthrough }
            return items.contains(needle)
        default:
            throw EvalError(.type, "argument of type '\(container.typeName)' is not iterable")
        }
    }

    /// Python ordering (`<`): numbers, strings (by code point), lists (lexicographically). Returns -1, 0 or 1.
    static func order(_ a: JinjaValue, _ b: JinjaValue, _ op: CompareOperator = .less) throws(EvalError) -> Int {
        if let x = a.number, let y = b.number {
            if case .int(let i) = x, case .int(let j) = y { return i < j ? -1 : i > j ? 1 : 0 }
            let (p, q) = (x.asDouble, y.asDouble)
            return p < q ? -1 : p > q ? 1 : 0
        }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            if x.unicodeScalars.elementsEqual(y.unicodeScalars) { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case (.array(let x), .array(let y)):
            for (p, q) in zip(x, y) where p != q { return try order(p, q, op) }
            return x.count < y.count ? -1 : x.count > y.count ? 1 : 0
        default:
            if a.isUndefined || b.isUndefined { throw EvalError(.undefined, "undefined value used in a comparison") }
            throw EvalError(.type,
                "'\(op.rawValue)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }
}

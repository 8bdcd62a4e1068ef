import Foundation

/// Arguments of a filter, test, method or function call, with Python-style binding to parameter names.
struct CallArguments {
    var positional: [JinjaValue]
    var keywords: [(String, JinjaValue)]

    init(_ positional: [JinjaValue] = [], _ keywords: [(String, JinjaValue)] = []) {
        self.positional = positional
        self.keywords = keywords
    }

    /// Binds arguments to `names` in order (positional first, then by keyword). Missing ones are nil.
    /// Fails on too many positional arguments, unknown or repeated keywords.
    func bind(_ names: [String], function: String) throws(EvalError) -> [JinjaValue?] {
        if positional.count > names.count {
            throw EvalError(.type, "\(function)() takes at most \(names.count) argument(s) (\(positional.count) given)")
        }
        var values: [JinjaValue?] = positional + Array(repeating: nil, count: names.count - positional.count)
        for (key, value) in keywords {
            guard let i = names.firstIndex(of: key) else {
                throw EvalError(.type, "\(function)() got an unexpected keyword argument '\(key)'")
            }
            if values[i] != nil { throw EvalError(.type, "\(function)() got multiple values for argument '\(key)'") }
            values[i] = value
        }
        return values
    }

    /// Requires that there are no arguments at all.
    func none(function: String) throws(EvalError) {
        _ = try bind([], function: function)
    }
}

/// Global functions: Hugging Face's `raise_exception` and `strftime_now`, and jinja2's `range`, `namespace`,
/// `dict`.
enum Globals {
    static let names = ["range", "namespace", "dict", "raise_exception", "strftime_now", "lipsum", "cycler", "joiner"]
    /// jinja2's sandbox refuses larger ranges.
    static let maxRange = 100_000

    static func call(_ name: String, _ arguments: CallArguments, interpreter: Interpreter) throws(EvalError)
        -> JinjaValue
    {
        switch name {
        case "range":
            return try range(arguments)
        case "namespace":
            interpreter.namespaces.append(try dictionary(arguments, function: "namespace"))
            return .object(JinjaObject(.namespace(id: interpreter.namespaces.count - 1)))
        case "dict":
            return .dictionary(try dictionary(arguments, function: "dict"))
        case "raise_exception":
            let message = try arguments.bind(["message"], function: name)[0] ?? .undefined
            throw EvalError(.raised, message.pythonString)
        case "strftime_now":
            guard case .string(let format)? = try arguments.bind(["format"], function: name)[0] else {
                throw EvalError(.type, "strftime_now() needs a format string such as \"%Y-%m-%d\"")
            }
            return .string(Strftime.format(interpreter.now, format, timeZone: interpreter.timeZone))
        default:
            throw EvalError(.runtime, "the global '\(name)' is not supported by this template engine")
        }
    }

    /// Python `dict(mapping_or_pairs, **kwargs)`.
    static func dictionary(_ arguments: CallArguments, function: String) throws(EvalError) -> JinjaDictionary {
        if arguments.positional.count > 1 {
            throw EvalError(.type, "\(function)() expected at most 1 positional argument")
        }
        var result = JinjaDictionary()
        if let first = arguments.positional.first {
            switch first {
            case .dictionary(let dict): result = dict
            case .array(let pairs):
                for pair in pairs {
                    guard case .array(let kv) = pair, kv.count == 2, case .string(let key) = kv[0] else {
                        throw EvalError(.type, "\(function)() needs a mapping or a list of (string, value) pairs")
                    }
                    result[key] = kv[1]
                }
            default:
                throw EvalError(.type, "'\(first.typeName)' object is not a mapping")
            }
        }
        for (key, value) in arguments.keywords { result[key] = value }
        return result
    }

    static func range(_ arguments: CallArguments) throws(EvalError) -> JinjaValue {
        if !arguments.keywords.isEmpty { throw EvalError(.type, "range() takes no keyword arguments") }
        let ints = try arguments.positional.map { (v) throws(EvalError) -> Int in
            guard let i = v.integerIndex else {
                throw EvalError(.type, "'\(v.typeName)' object cannot be interpreted as an integer")
            }
            return i
        }
        let (start, stop, step): (Int, Int, Int)
        switch ints.count {
        case 1: (start, stop, step) = (0, ints[0], 1)
        case 2: (start, stop, step) = (ints[0], ints[1], 1)
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw EvalError(.type, "range expected 1 to 3 integer arguments, got \(ints.count)")
        }
        if step == 0 { throw EvalError(.runtime, "range() arg 3 must not be zero") }
        let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
        let count = span <= 0 ? 0 : Int((span / Double(abs(step))).rounded(.up))
        if count > maxRange {
            throw EvalError(.limit, "range too big: the sandbox blocks ranges larger than \(maxRange)")
        }
        return .array((0..<count).map { .int(start + $0 * step) })
    }
}

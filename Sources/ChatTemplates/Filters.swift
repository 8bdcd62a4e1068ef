import Foundation

extension Interpreter {
    /// Evaluates a filter's arguments and applies it; errors point at the filter name.
    func applyFilter(_ filter: FilterCall, to value: JinjaValue) throws(EvalError) -> JinjaValue {
        try locate(filter.offset) { () throws(EvalError) in
            let (positional, keywords) = try evaluateArguments(filter.arguments)
            return try Filters.apply(filter.name, to: value, CallArguments(positional, keywords), interpreter: self)
        }
    }
}

/// jinja2's built-in filters (with Hugging Face's `tojson`), on template values.
enum Filters {
    /// Every filter name jinja2 (as configured by Hugging Face) knows. Names outside this set fail when the
    /// template is compiled, as in jinja2; the few known names this engine lacks fail when used.
    static let jinjaNames: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
        "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
        "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr",
        "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags", "sum",
        "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap",
        "xmlattr",
    ]

    static func apply(_ name: String, to value: JinjaValue, _ args: CallArguments, interpreter: Interpreter)
        throws(EvalError) -> JinjaValue
    {
        switch name {
        case "default", "d":
            let a = try args.bind(["default_value", "boolean"], function: name)
            let useDefault = value.isUndefined || ((a[1]?.isTruthy ?? false) && !value.isTruthy)
            return useDefault ? a[0] ?? .string("") : value
        case "length", "count":
            try args.none(function: name)
            return .int(try length(of: value))
        case "string", "safe":
            try args.none(function: name)
            return .string(value.pythonString)
        case "upper", "lower", "capitalize", "title", "escape", "e", "forceescape", "wordcount":
            try args.none(function: name)
            return try textFilter(name, value.pythonString)
        case "trim":
            let chars = try args.bind(["chars"], function: name)[0]
            return .string(PythonText.strip(value.pythonString, characters: try optionalString(chars, "trim")))
        case "replace":
            let a = try args.bind(["old", "new", "count"], function: name)
            guard let old = a[0], let new = a[1] else { throw EvalError(.type, "replace() needs old and new strings") }
            let count = try a[2].map { (c) throws(EvalError) -> Int in try integer(c, "replace count") } ?? -1
            return .string(try Methods.replace(value.pythonString, old.pythonString, new.pythonString, count: count,
                                               maxScalars: interpreter.limits.maxOutputBytes))
        case "indent":
            let a = try args.bind(["width", "first", "blank"], function: name)
            if let width = a[0]?.integerIndex { try interpreter.checkAllocation(width) }
            return .string(indent(value.pythonString, width: a[0] ?? .int(4), first: a[1]?.isTruthy ?? false,
                                  blank: a[2]?.isTruthy ?? false))
        case "center":
            let width = try integer(try args.bind(["width"], function: name)[0] ?? .int(80), "center width")
            try interpreter.checkAllocation(width)
            return .string(Methods.pad(value.pythonString, width: width, align: "^", fill: " "))
        case "format":
            if !args.keywords.isEmpty {
                return .string(try PythonFormat.percent(value.pythonString, .dictionary(JinjaDictionary(args.keywords))))
            }
            return .string(try PythonFormat.percent(value.pythonString, .array(args.positional), forceTuple: true))
        case "tojson":
            return .string(try toJSON(value, args, maxBytes: interpreter.limits.maxOutputBytes))
        case "int" where value.isUndefined, "float" where value.isUndefined:
            throw EvalError(.undefined, "an undefined value cannot be converted with '\(name)'")
        case "int":
            let a = try args.bind(["default", "base"], function: name)
            return toInt(value, default: a[0] ?? .int(0), base: try integer(a[1] ?? .int(10), "int base"))
        case "float":
            let fallback = try args.bind(["default"], function: name)[0] ?? .double(0)
            return toFloat(value).map { .double($0) } ?? fallback
        case "abs":
            try args.none(function: name)
            switch value.number {
            case .int(let i)?:
                guard i != Int.min else { throw EvalError(.runtime, "integer overflow in abs()") }
                return .int(abs(i))
            case .double(let d)?: return .double(abs(d))
            case nil: throw EvalError(.type, "bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            let a = try args.bind(["precision", "method"], function: name)
            return try round(value, precision: try integer(a[0] ?? .int(0), "round precision"),
                             method: a[1]?.pythonString ?? "common")
        case "attr":
            guard case .string(let attribute)? = try args.bind(["name"], function: name)[0] else {
                throw EvalError(.type, "attr() needs an attribute name")
            }
            if case .dictionary = value, !Methods.dictionaryNames.contains(attribute) { return .undefined }
            return interpreter.attribute(of: value, attribute)
        default:
            return try applyCollectionFilter(name, to: value, args, interpreter: interpreter)
        }
    }

    static func length(of value: JinjaValue) throws(EvalError) -> Int {
        switch value {
        case .string(let s): return s.unicodeScalars.count
        case .array(let items): return items.count
        case .dictionary(let dict): return dict.count
        case .undefined: return 0
        default: throw EvalError(.type, "object of type '\(value.typeName)' has no len()")
        }
    }

    static func integer(_ value: JinjaValue, _ what: String) throws(EvalError) -> Int {
        guard let i = value.integerIndex else { throw EvalError(.type, "\(what) must be an integer, not \(value.typeName)") }
        return i
    }

    static func optionalString(_ value: JinjaValue?, _ what: String) throws(EvalError) -> String? {
        switch value {
        case nil, .none?: return nil
        case .string(let s)?: return s
        default: throw EvalError(.type, "\(what) argument must be a string or None")
        }
    }

    private static func textFilter(_ name: String, _ text: String) throws(EvalError) -> JinjaValue {
        switch name {
        case "upper": return .string(text.uppercased())
        case "lower": return .string(text.lowercased())
        case "capitalize": return .string(Methods.capitalize(text))
        case "title":
            // jinja2 splits on runs of whitespace, '-', '(', '{', '[', '<' and capitalises each piece.
            var out = ""
            var piece = String.UnicodeScalarView()
            let isBoundary: (Unicode.Scalar) -> Bool = { PythonText.isWhitespace($0) || "-({[<".unicodeScalars.contains($0) }
            func flush() {
                if let first = piece.first {
                    out += String(first).uppercased() + String(String.UnicodeScalarView(piece.dropFirst())).lowercased()
                }
                piece = String.UnicodeScalarView()
            }
            var inBoundary = false
            for scalar in text.unicodeScalars {
                if isBoundary(scalar) != inBoundary {
                    flush()
                    inBoundary.toggle()
                }
                piece.append(scalar)
            }
            flush()
            return .string(out)
        case "wordcount":
            var count = 0
            var inWord = false
            for scalar in text.unicodeScalars {
                let isWord = scalar == "_" || scalar.properties.isAlphabetic || scalar.properties.numericType != nil
                if isWord && !inWord { count += 1 }
                inWord = isWord
            }
            return .int(count)
        default:
            return .string(htmlEscape(text))
        }
    }

    /// markupsafe's `escape`: `&`, `<`, `>`, `"`, `'` as HTML entities.
    static func htmlEscape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// jinja2's `indent`: prefix every line but the first (and blank lines only when `blank`).
    static func indent(_ text: String, width: JinjaValue, first: Bool, blank: Bool) -> String {
        let indentation: String
        if case .string(let s) = width { indentation = s } else { indentation = String(repeating: " ", count: max(0, width.integerIndex ?? 4)) }
        let lines = Methods.splitLines(text + "\n")
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty {
                result += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        return first ? indentation + result : result
    }

    /// Hugging Face's `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
    static func toJSON(_ value: JinjaValue, _ args: CallArguments, maxBytes: Int) throws(EvalError) -> String {
        let a = try args.bind(["ensure_ascii", "indent", "separators", "sort_keys"], function: "tojson")
        var options = JSONOptions()
        options.maxBytes = maxBytes
        options.ensureASCII = a[0]?.isTruthy ?? false
        options.sortKeys = a[3]?.isTruthy ?? false
        switch a[1] {
        case nil, .none?: break
        case .string(let s)?: options.indent = s
        case let v?:
            guard let n = v.integerIndex else { throw EvalError(.type, "tojson indent must be an integer or string") }
            if n > maxBytes { throw EvalError(.limit, "tojson indent \(n) exceeds the output limit") }
            options.indent = String(repeating: " ", count: max(0, n))
        }
        if let separators = a[2], !separators.isNone {
            guard case .array(let parts) = separators, parts.count == 2,
                case .string(let item) = parts[0], case .string(let key) = parts[1]
            else { throw EvalError(.type, "tojson separators must be a pair of strings") }
            options.itemSeparator = item
            options.keySeparator = key
        }
        do {
            return try JSONWriter.encode(value, options: options)
        } catch {
            if error.tooLarge { throw EvalError(.limit, "tojson output exceeds \(maxBytes) bytes") }
            if error.isKey {
                throw EvalError(.type, "keys must be str, int, float, bool or None, not \(error.typeName)")
            }
            throw EvalError(.type, "Object of type \(error.typeName) is not JSON serializable")
        }
    }

    /// jinja2's `int`: parse strings (falling back to float parsing), truncate floats, else the default.
    static func toInt(_ value: JinjaValue, default fallback: JinjaValue, base: Int) -> JinjaValue {
        switch value {
        case .int, .bool: return .int(value.integerIndex ?? 0)
        case .double(let d):
            return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : fallback
        case .string(let s):
            if let i = PythonFormat.parseInt(s, base: base) { return .int(i) }
            if let d = toFloat(value), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            return fallback
        default:
            return fallback
        }
    }

    /// Python `float(value)`, or nil where Python raises.
    static func toFloat(_ value: JinjaValue) -> Double? {
        switch value {
        case .int, .bool, .double: return value.number?.asDouble
        case .string(let s):
            let text = PythonText.strip(s).replacingOccurrences(of: "_", with: "")
            let lower = text.lowercased()
            if ["inf", "+inf", "infinity", "+infinity"].contains(lower) { return .infinity }
            if ["-inf", "-infinity"].contains(lower) { return -.infinity }
            if ["nan", "+nan", "-nan"].contains(lower) { return .nan }
            guard !text.isEmpty, text.unicodeScalars.allSatisfy({ "0123456789.eE+-".unicodeScalars.contains($0) })
            else { return nil }
            return Double(text)
        default: return nil
        }
    }

    /// jinja2's `round`: Python's `round()` (half to even on the exact binary value) or `ceil`/`floor`.
    static func round(_ value: JinjaValue, precision: Int, method: String) throws(EvalError) -> JinjaValue {
        guard let number = value.number else {
            throw EvalError(.type, "round() needs a number, not \(value.typeName)")
        }
        switch method {
        case "common":
            if case .int(let i) = number {
                if precision >= 0 { return .int(i) }
                let scale = Double(-precision)
                let rounded = (Double(i) / pow(10, scale)).rounded(.toNearestOrEven) * pow(10, scale)
                return abs(rounded) < 9.2e18 ? .int(Int(rounded)) : .double(rounded)
            }
            let x = number.asDouble
            guard x.isFinite else { return .double(x) }
            if precision >= 0 {
                if precision > 300 { return .double(x) }
                return .double(Double(String(format: "%.\(precision)f", x)) ?? x)
            }
            let scale = pow(10.0, Double(-precision))
            return .double((x / scale).rounded(.toNearestOrEven) * scale)
        case "ceil", "floor":
            let scale = pow(10.0, Double(precision))
            let scaled = number.asDouble * scale
            return .double((method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)) / scale)
        default:
            throw EvalError(.runtime, "round method must be 'common', 'ceil' or 'floor'")
        }
    }
}

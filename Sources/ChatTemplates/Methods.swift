/// Python methods callable on template values: `str` methods, read-only `dict` and `list` methods. Mutating
/// methods (`append`, `pop`, `update`, …) are refused, as jinja2's immutable sandbox does.
enum Methods {
    static let stringNames: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "swapcase", "casefold", "replace", "find", "rfind", "index", "rindex", "count", "join",
        "format", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "isupper", "islower",
        "istitle", "ljust", "rjust", "center", "zfill", "removeprefix", "removesuffix",
    ]
    static let dictionaryNames: Set<String> = ["get", "items", "keys", "values", "copy"]
    static let listNames: Set<String> = ["index", "count", "copy"]
    /// Methods that would modify a list or dict; the sandbox blocks them.
    static let mutatingNames: Set<String> = [
        "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "update", "setdefault", "popitem",
    ]

    static func call(_ name: String, on receiver: JinjaValue, _ args: CallArguments, interpreter: Interpreter)
        throws(EvalError) -> JinjaValue
    {
        switch receiver {
        case .string(let s): return try callString(name, s, args, interpreter: interpreter)
        case .dictionary(let dict):
            switch name {
            case "get":
                let a = try args.bind(["key", "default"], function: "get")
                return dict[a[0] ?? .undefined] ?? a[1] ?? .none
            case "items":
                try args.none(function: name)
                return .array(dict.pairs.map { .array([$0.key, $0.value]) })
            case "keys":
                try args.none(function: name)
                return .array(dict.keys)
            case "values":
                try args.none(function: name)
                return .array(dict.values)
            default:
                try args.none(function: name)
                return receiver
            }
        case .array(let items):
            switch name {
            case "index":
                let needle = try args.bind(["value"], function: name)[0] ?? .undefined
                guard let i = items.firstIndex(of: needle) else {
                    throw EvalError(.runtime, "\(needle.pythonRepr) is not in list")
                }
                return .int(i)
            case "count":
                let needle = try args.bind(["value"], function: name)[0] ?? .undefined
                return .int(items.count { $0 == needle })
            default:
                try args.none(function: name)
                return receiver
            }
        default:
            throw EvalError(.type, "'\(receiver.typeName)' object has no method '\(name)'")
        }
    }

    private static func callString(_ name: String, _ s: String, _ args: CallArguments, interpreter: Interpreter)
        throws(EvalError) -> JinjaValue
    {
        func text(_ index: Int, _ parameters: [String]) throws(EvalError) -> String? {
            let values = try args.bind(parameters, function: name)
            return try Filters.optionalString(values[index], name)
        }
        switch name {
        case "strip", "lstrip", "rstrip":
            return .string(PythonText.strip(s, characters: try text(0, ["chars"]), leading: name != "rstrip",
                                            trailing: name != "lstrip"))
        case "split", "rsplit":
            let a = try args.bind(["sep", "maxsplit"], function: name)
            let separator = try Filters.optionalString(a[0], name)
            let limit = try a[1].map { (v) throws(EvalError) in try Filters.integer(v, "maxsplit") } ?? -1
            if separator == "" { throw EvalError(.runtime, "empty separator") }
            return .array(split(s, separator: separator, maxSplit: limit, fromRight: name == "rsplit").map { .string($0) })
        case "splitlines":
            let keep = try args.bind(["keepends"], function: name)[0]?.isTruthy ?? false
            return .array(splitLines(s, keepEnds: keep).map { .string($0) })
        case "startswith", "endswith":
            let a = try args.bind(["prefix"], function: name)
            let candidates: [JinjaValue] = a[0]?.arrayValue ?? [a[0] ?? .undefined]
            for candidate in candidates {
                guard case .string(let affix) = candidate else {
                    throw EvalError(.type, "\(name) first arg must be str or a tuple of str, not \(candidate.typeName)")
                }
                let scalars = Array(s.unicodeScalars)
                let affixScalars = Array(affix.unicodeScalars)
                let matches = name == "startswith"
                    ? scalars.starts(with: affixScalars) : scalars.reversed().starts(with: affixScalars.reversed())
                if matches { return .bool(true) }
            }
            return .bool(false)
        case "upper": try args.none(function: name); return .string(s.uppercased())
        case "lower", "casefold": try args.none(function: name); return .string(s.lowercased())
        case "title": try args.none(function: name); return .string(title(s))
        case "capitalize": try args.none(function: name); return .string(capitalize(s))
        case "swapcase":
            try args.none(function: name)
            return .string(s.unicodeScalars.map {
                $0.properties.isUppercase ? String($0).lowercased() : $0.properties.isLowercase ? String($0).uppercased() : String($0)
            }.joined())
        case "replace":
            let a = try args.bind(["old", "new", "count"], function: name)
            guard case .string(let old)? = a[0], case .string(let new)? = a[1] else {
                throw EvalError(.type, "replace() arguments must be strings")
            }
            let count = try a[2].map { (v) throws(EvalError) in try Filters.integer(v, "count") } ?? -1
            return .string(try replace(s, old, new, count: count, maxScalars: interpreter.limits.maxOutputBytes))
        case "find", "rfind", "index", "rindex", "count":
            guard let needle = try text(0, ["sub"]) else { throw EvalError(.type, "\(name)() needs a string") }
            let hay = Array(s.unicodeScalars)
            let sub = Array(needle.unicodeScalars)
            if name == "count" {
                return .int(sub.isEmpty ? hay.count + 1 : SubstringSearch.nonOverlappingStarts(of: sub, in: hay).count)
            }
            let positions = sub.isEmpty ? [0, hay.count] : SubstringSearch.starts(of: sub, in: hay)
            let found = name.hasPrefix("r") ? positions.last : positions.first
            if found == nil && name.hasSuffix("index") { throw EvalError(.runtime, "substring not found") }
            return .int(found ?? -1)
        case "join":
            let items = try interpreter.iterate(try args.bind(["iterable"], function: name)[0] ?? .undefined)
            var parts: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let part) = item else {
                    throw EvalError(.type, "sequence item \(i): expected str instance, \(item.typeName) found")
                }
                parts.append(part)
            }
            return .string(parts.joined(separator: s))
        case "format":
            return .string(try PythonFormat.format(s, args, interpreter: interpreter))
        case "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "isupper", "islower", "istitle":
            try args.none(function: name)
            return .bool(classify(name, s))
        case "ljust", "rjust", "center":
            let a = try args.bind(["width", "fillchar"], function: name)
            let width = try Filters.integer(a[0] ?? .undefined, "width")
            try interpreter.checkAllocation(width)
            let fill = try Filters.optionalString(a[1], name) ?? " "
            guard fill.unicodeScalars.count == 1 else {
                throw EvalError(.type, "The fill character must be exactly one character long")
            }
            let align: Character = name == "ljust" ? "<" : name == "rjust" ? ">" : "^"
            return .string(pad(s, width: width, align: align, fill: fill))
        case "zfill":
            let width = try Filters.integer(try args.bind(["width"], function: name)[0] ?? .undefined, "width")
            try interpreter.checkAllocation(width)
            var scalars = Array(s.unicodeScalars)
            let sign = scalars.first.map { $0 == "+" || $0 == "-" } ?? false ? [scalars.removeFirst()] : []
            let zeros = Array(repeating: Unicode.Scalar("0"), count: max(0, width - scalars.count - sign.count))
            return .string(PythonText.string(sign + zeros + scalars))
        case "removeprefix", "removesuffix":
            guard let affix = try text(0, ["affix"]) else { throw EvalError(.type, "\(name)() needs a string") }
            if name == "removeprefix", s.unicodeScalars.starts(with: affix.unicodeScalars) {
                return .string(PythonText.string(s.unicodeScalars.dropFirst(affix.unicodeScalars.count)))
            }
            if name == "removesuffix", !affix.isEmpty,
                s.unicodeScalars.reversed().starts(with: affix.unicodeScalars.reversed())
            {
                return .string(PythonText.string(s.unicodeScalars.dropLast(affix.unicodeScalars.count)))
            }
            return .string(s)
        default:
            throw EvalError(.type, "'str' object has no method '\(name)'")
        }
    }

    /// Python `str.split` / `str.rsplit`.
    static func split(_ s: String, separator: String?, maxSplit: Int, fromRight: Bool) -> [String] {
        var scalars = Array(s.unicodeScalars)
        var sep = separator.map { Array($0.unicodeScalars) }
        if fromRight {
            scalars.reverse()
            sep?.reverse()
        }
        var parts: [[Unicode.Scalar]] = []
        var remaining = maxSplit < 0 ? Int.max : maxSplit
        var i = 0
        if let sep {
            var start = 0
            for match in SubstringSearch.nonOverlappingStarts(of: sep, in: scalars) where remaining > 0 {
                parts.append(Array(scalars[start..<match]))
                start = match + sep.count
                remaining -= 1
            }
            parts.append(Array(scalars[start...]))
        } else {
            let n = scalars.count
            while remaining > 0 {
                while i < n && PythonText.isWhitespace(scalars[i]) { i += 1 }
                if i == n { break }
                let start = i
                while i < n && !PythonText.isWhitespace(scalars[i]) { i += 1 }
                parts.append(Array(scalars[start..<i]))
                remaining -= 1
            }
            while i < n && PythonText.isWhitespace(scalars[i]) { i += 1 }
            if i < n { parts.append(Array(scalars[i...])) }
        }
        if fromRight { parts = parts.reversed().map { $0.reversed() } }
        return parts.map { PythonText.string($0) }
    }

    /// Python `str.splitlines`.
    static func splitLines(_ s: String, keepEnds: Bool = false) -> [String] {
        let scalars = Array(s.unicodeScalars)
        var lines: [String] = []
        var start = 0
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            switch c.value {
            case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                var end = i + 1
                if c == "\r", end < scalars.count, scalars[end] == "\n" { end += 1 }
                lines.append(PythonText.string(scalars[start..<(keepEnds ? end : i)]))
                start = end
                i = end
            default:
                i += 1
            }
        }
        if start < scalars.count { lines.append(PythonText.string(scalars[start...])) }
        return lines
    }

    /// Python `str.replace(old, new, count)`.
    static func replace(_ s: String, _ old: String, _ new: String, count: Int, maxScalars: Int) throws(EvalError)
        -> String
    {
        var remaining = count < 0 ? Int.max : count
        let scalars = Array(s.unicodeScalars)
        let oldScalars = Array(old.unicodeScalars)
        let matches = oldScalars.isEmpty
            ? scalars.count + 1 : SubstringSearch.nonOverlappingStarts(of: oldScalars, in: scalars).count
        let (growth, overflow) = min(matches, remaining).multipliedReportingOverflow(by: new.unicodeScalars.count)
        if overflow || scalars.count + growth > maxScalars {
            throw EvalError(.limit, "replace() result would exceed the output limit of \(maxScalars) bytes")
        }
        var out = String.UnicodeScalarView()
        if oldScalars.isEmpty {
            for scalar in scalars {
                if remaining > 0 {
                    out.append(contentsOf: new.unicodeScalars)
                    remaining -= 1
                }
                out.append(scalar)
            }
            if remaining > 0 { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        var start = 0
        for match in SubstringSearch.nonOverlappingStarts(of: oldScalars, in: scalars) where remaining > 0 {
            out.append(contentsOf: scalars[start..<match])
            out.append(contentsOf: new.unicodeScalars)
            start = match + oldScalars.count
            remaining -= 1
        }
        out.append(contentsOf: scalars[start...])
        return String(out)
    }

    /// Python `str.title()`: a letter after a cased letter is lower-cased, otherwise title-cased.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for scalar in s.unicodeScalars {
            out += previousCased ? String(scalar).lowercased() : scalar.properties.titlecaseMapping
            previousCased = scalar.properties.isCased
        }
        return out
    }

    /// Python `str.capitalize()`: first character title-cased, the rest lower-cased.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return "" }
        return first.properties.titlecaseMapping + PythonText.string(s.unicodeScalars.dropFirst()).lowercased()
    }

    /// Pads to `width` with `fill`, aligned `<`, `>` or `^` (Python's `ljust`/`rjust`/`center` rules).
    static func pad(_ s: String, width: Int, align: Character, fill: String) -> String {
        let length = s.unicodeScalars.count
        guard width > length else { return s }
        let margin = width - length
        let left: Int
        switch align {
        case "<": left = 0
        case ">": left = margin
        default: left = margin / 2 + (margin & width & 1)
        }
        return String(repeating: fill, count: left) + s + String(repeating: fill, count: margin - left)
    }

    private static func classify(_ name: String, _ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        switch name {
        case "isupper", "islower":
            let cased = scalars.filter { $0.properties.isCased }
            return !cased.isEmpty && cased.allSatisfy { name == "isupper" ? $0.properties.isUppercase : $0.properties.isLowercase }
        case "istitle":
            return !scalars.isEmpty && title(s) == s && scalars.contains { $0.properties.isCased }
        default:
            guard !scalars.isEmpty else { return false }
            return scalars.allSatisfy { scalar in
                let p = scalar.properties
                switch name {
                case "isdigit": return p.numericType == .decimal || p.numericType == .digit
                case "isdecimal": return p.numericType == .decimal
                case "isnumeric": return p.numericType != nil
                case "isalpha": return p.isAlphabetic
                case "isalnum": return p.isAlphabetic || p.numericType != nil
                default: return PythonText.isWhitespace(scalar)
                }
            }
        }
    }
}

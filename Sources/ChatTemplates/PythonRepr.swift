/// Python's `str()` and `repr()` of template values, which is what jinja2 prints.
extension JinjaValue {
    /// Python `str(value)`: strings as they are, everything else as `repr`; undefined prints as "".
    var pythonString: String {
        switch self {
        case .undefined: ""
        case .string(let s): s
        default: pythonRepr
        }
    }

    /// Python `repr(value)`: `'text'`, `None`, `True`, `1.5`, `[1, 'a']`, `{'k': 'v'}`.
    var pythonRepr: String {
        switch self {
        case .undefined: "Undefined"
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): PythonFloat.repr(d)
        case .string(let s): PythonText.repr(s)
        case .array(let items): "[" + items.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .dictionary(let dict):
            "{" + dict.pairs.map { $0.key.pythonRepr + ": " + $0.value.pythonRepr }.joined(separator: ", ") + "}"
        case .object(let object):
            switch object.kind {
            case .builtin(let name): "<built-in function \(name)>"
            case .boundMethod(let receiver, let name): "<built-in method \(name) of \(receiver.typeName) object>"
            case .macro(_, let name): "<Macro '\(name)'>"
            case .namespace: "<Namespace>"
            case .loopCycle: "<bound method LoopContext.cycle>"
            case .iterator(let typeName, _): "<\(typeName) object>"
            }
        }
    }
}

/// Formatting of Python floats (`repr(float)`), shared by printing and `tojson`.
enum PythonFloat {
    /// Python's shortest round-trip representation: `1.0`, `0.1`, `1e-05`, `1e+16`, `inf`, `nan`.
    static func repr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        let (negative, digits, pointPosition) = shortestDigits(value)
        let sign = negative ? "-" : ""
        // Python uses fixed notation when -4 < pointPosition <= 16 (the position of the decimal point
        // relative to the first significant digit).
        if pointPosition > -4 && pointPosition <= 16 {
            if pointPosition <= 0 {
                return sign + "0." + String(repeating: "0", count: -pointPosition) + digits
            }
            if pointPosition >= digits.count {
                return sign + digits + String(repeating: "0", count: pointPosition - digits.count) + ".0"
            }
            let split = digits.index(digits.startIndex, offsetBy: pointPosition)
            return sign + digits[..<split] + "." + digits[split...]
        }
        let exponent = pointPosition - 1
        var mantissa = String(digits.prefix(1))
        if digits.count > 1 { mantissa += "." + digits.dropFirst() }
        let expDigits = String(abs(exponent))
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (expDigits.count < 2 ? "0" : "") + expDigits
    }

    /// The shortest decimal digits that round-trip to `value` (no leading/trailing zeros) and the position of the
    /// decimal point: value = 0.DIGITS × 10^pointPosition. Zero is ("0", 1).
    private static func shortestDigits(_ value: Double) -> (negative: Bool, digits: String, pointPosition: Int) {
        // Swift's description is the shortest round-trip form, e.g. "1.0", "0.0001", "1e-05", "1.2345e+20".
        let text = "\(value.magnitude)"
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var integerPart = mantissa
        var fraction: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            integerPart = mantissa[..<dot]
            fraction = mantissa[mantissa.index(after: dot)...]
        }
        var digits = String(integerPart) + fraction
        var point = integerPart.count + exponent
        while digits.first == "0" && digits.count > 1 {
            digits.removeFirst()
            point -= 1
        }
        while digits.last == "0" && digits.count > 1 { digits.removeLast() }
        if digits == "0" { point = 1 }
        return (value.sign == .minus, digits, point)
    }
}

/// Python string helpers: `repr`, whitespace, printability.
enum PythonText {
    /// Python's `str.isspace()` characters (also what `\s` matches in `re` and what `strip()`/`split()` use).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            true
        default: false
        }
    }

    /// Python's `str.isprintable()` for one character.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default:
            return true
        }
    }

    /// Python's `repr(str)`: single quotes unless the text has a `'` and no `"`; escapes like CPython.
    static func repr(_ text: String) -> String {
        let quote: Unicode.Scalar = text.contains("'") && !text.contains("\"") ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case quote, "\\":
                out.append("\\")
                out.append(scalar)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out.append(contentsOf: hexEscape(scalar.value, prefix: "x", width: 2).unicodeScalars)
                } else if scalar.value < 0x7F || isPrintable(scalar) {
                    out.append(scalar)
                } else if scalar.value <= 0xFF {
                    out.append(contentsOf: hexEscape(scalar.value, prefix: "x", width: 2).unicodeScalars)
                } else if scalar.value <= 0xFFFF {
                    out.append(contentsOf: hexEscape(scalar.value, prefix: "u", width: 4).unicodeScalars)
                } else {
                    out.append(contentsOf: hexEscape(scalar.value, prefix: "U", width: 8).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    /// `\xNN`, `\uNNNN`, `\UNNNNNNNN` in lower-case hex.
    static func hexEscape(_ value: UInt32, prefix: String, width: Int) -> String {
        let hex = String(value, radix: 16)
        return "\\" + prefix + String(repeating: "0", count: max(0, width - hex.count)) + hex
    }

    /// Python `str.strip()` / `lstrip()` / `rstrip()`: removes `characters` (or whitespace when nil) at the ends.
    static func strip(_ text: String, characters: String? = nil, leading: Bool = true, trailing: Bool = true) -> String {
        let scalars = Array(text.unicodeScalars)
        let set = characters.map { Set($0.unicodeScalars) }
        let shouldStrip: (Unicode.Scalar) -> Bool = { set?.contains($0) ?? isWhitespace($0) }
        var start = 0
        var end = scalars.count
        if leading { while start < end && shouldStrip(scalars[start]) { start += 1 } }
        if trailing { while end > start && shouldStrip(scalars[end - 1]) { end -= 1 } }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[start..<end])
        return String(view)
    }

    /// A string made of the given scalars.
    static func string<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}

/// Linear-time substring search (Knuth–Morris–Pratt) on Unicode scalars, so a hostile template cannot make
/// `find`, `split`, `replace` or `in` take quadratic time.
enum SubstringSearch {
    /// Start positions of every occurrence of a non-empty `needle`, overlapping ones included, in order.
    static func starts(of needle: [Unicode.Scalar], in hay: [Unicode.Scalar]) -> [Int] {
        guard !needle.isEmpty, needle.count <= hay.count else { return [] }
        var failure = [0] + Array(repeating: 0, count: needle.count - 1)
        var k = 0
        for i in 1..<max(needle.count, 1) {
            while k > 0 && needle[i] != needle[k] { k = failure[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            failure[i] = k
        }
        var result: [Int] = []
        k = 0
        for (i, scalar) in hay.enumerated() {
            while k > 0 && scalar != needle[k] { k = failure[k - 1] }
            if scalar == needle[k] { k += 1 }
            if k == needle.count {
                result.append(i - needle.count + 1)
                k = failure[k - 1]
            }
        }
        return result
    }

    /// Occurrences scanning left to right without overlap (what `split`, `replace` and `count` use).
    static func nonOverlappingStarts(of needle: [Unicode.Scalar], in hay: [Unicode.Scalar]) -> [Int] {
        var next = 0
        return starts(of: needle, in: hay).filter { start in
            guard start >= next else { return false }
            next = start + needle.count
            return true
        }
    }
}

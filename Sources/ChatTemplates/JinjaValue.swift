/// A value a template works with: the Python-like data model of Jinja, reduced to what chat templates use.
///
/// Build values from Swift literals (`["role": "user", "content": "Hi"]`), from JSON text
/// (``init(parsingJSON:)``, which keeps object key order), or case by case.
/// Equality follows Python: `1 == 1.0 == true`, dictionaries compare without regard to key order.
public enum JinjaValue: Sendable {
    /// A missing variable or attribute. Prints as the empty string, is falsy, and fails when used in arithmetic
    /// or when one of its attributes is read (like jinja2's default `Undefined`).
    case undefined
    /// Python `None`.
    case none
    /// Python `True`/`False` (also usable as the integers 1 and 0, as in Python).
    case bool(Bool)
    /// A Python `int` (64-bit here; overflow is an error instead of a big integer).
    case int(Int)
    /// A Python `float`.
    case double(Double)
    /// A Python `str`; indexing, slicing and `length` count Unicode scalars, like Python code points.
    case string(String)
    /// A Python list (tuples are represented as lists too).
    case array([JinjaValue])
    /// A Python dict with string keys; insertion order is preserved.
    case dictionary(JinjaDictionary)
    /// An object created by a template: a macro, a built-in function, a bound method or a `namespace()`.
    case object(JinjaObject)
}

/// An opaque object made while rendering (macro, function, bound method, namespace). Only the engine creates these.
public struct JinjaObject: Sendable, Equatable {
    indirect enum Kind: Sendable, Equatable {
        /// A global function such as `range` or `namespace`.
        case builtin(String)
        /// A method looked up on a value, e.g. `message.get`; called later with arguments.
        case boundMethod(receiver: JinjaValue, name: String)
        /// A macro (or a call block's `caller`), by index into the interpreter's macro table.
        case macro(id: Int, name: String)
        /// A `namespace()`, by index into the interpreter's namespace table.
        case namespace(id: Int)
        /// `loop.cycle` of the loop whose current index0 is given.
        case loopCycle(index0: Int)
        /// A one-shot iterator (what jinja2's `map`, `select`, `items`, … filters return): it can be looped over or
        /// turned into a list, but has no length and is not JSON serializable. `typeName` is Python's type name.
        case iterator(typeName: String, items: [JinjaValue])
    }

    let kind: Kind
    init(_ kind: Kind) { self.kind = kind }
}

extension JinjaValue {
    /// Python truthiness: empty strings and containers, zero, `None` and undefined are false.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .dictionary(let d): !d.isEmpty
        case .object: true
        }
    }

    /// Whether this is `.undefined`.
    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Whether this is `.none` (Python `None`).
    public var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    /// The string payload, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The array payload, if this is an array.
    public var arrayValue: [JinjaValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The dictionary payload, if this is a dictionary.
    public var dictionaryValue: JinjaDictionary? {
        if case .dictionary(let d) = self { return d }
        return nil
    }

    /// Python's name for the value's type, used in error messages (`str`, `int`, `dict`, …).
    var typeName: String {
        switch self {
        case .undefined: "Undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .array: "list"
        case .dictionary: "dict"
        case .object(let o):
            switch o.kind {
            case .builtin, .boundMethod, .loopCycle: "builtin_function_or_method"
            case .macro: "Macro"
            case .iterator(let typeName, _): typeName
            case .namespace: "Namespace"
            }
        }
    }

    /// The numeric value when this is a bool, int or float (Python's `bool` is an `int`).
    var number: Number? {
        switch self {
        case .bool(let b): .int(b ? 1 : 0)
        case .int(let i): .int(i)
        case .double(let d): .double(d)
        default: nil
        }
    }

    /// A Python number: exact integer or float.
    enum Number {
        case int(Int)
        case double(Double)

        var asDouble: Double {
            switch self {
            case .int(let i): Double(i)
            case .double(let d): d
            }
        }
    }
}

extension JinjaValue: Equatable {
    /// Python `==`: numbers compare by value across int/float/bool, dictionaries ignore key order,
    /// undefined equals only undefined.
    public static func == (lhs: JinjaValue, rhs: JinjaValue) -> Bool {
        if let a = lhs.number, let b = rhs.number {
            switch (a, b) {
            case (.int(let x), .int(let y)): return x == y
            default: return a.asDouble == b.asDouble
            }
        }
        switch (lhs, rhs) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)): return a == b
        case (.dictionary(let a), .dictionary(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    /// A literal `nil` is Python `None` (not undefined).
    public init(nilLiteral: ()) { self = .none }
    public init(dictionaryLiteral elements: (JinjaValue, JinjaValue)...) {
        var dictionary = JinjaDictionary()
        for (key, value) in elements { dictionary[key] = value }
        self = .dictionary(dictionary)
    }
}

extension JinjaValue: CustomStringConvertible {
    /// What `{{ value }}` prints: Python's `str()` of the value.
    public var description: String { pythonString }
}

extension JinjaValue: Hashable {
    /// Hashing consistent with Python equality: `1`, `1.0` and `true` hash alike.
    public func hash(into hasher: inout Hasher) {
        if let number {
            switch number {
            case .int(let i): hasher.combine(i)
            case .double(let d):
                if let i = Int(exactly: d) { hasher.combine(i) } else { hasher.combine(d) }
            }
            return
        }
        switch self {
        case .undefined: hasher.combine(0xDEF as Int16)
        case .none: hasher.combine(0x0FF as Int16)
        case .string(let s): hasher.combine(s)
        case .array(let items): hasher.combine(items)
        case .dictionary(let dict): hasher.combine(dict)
        case .object(let object): hasher.combine(object)
        case .bool, .int, .double: break
        }
    }
}

extension JinjaObject: Hashable {}
extension JinjaObject.Kind: Hashable {}

extension JinjaDictionary: Hashable {
    /// Order-insensitive, matching ``==``.
    public func hash(into hasher: inout Hasher) {
        var combined = 0
        for (key, value) in pairs {
            var pairHasher = Hasher()
            pairHasher.combine(key)
            pairHasher.combine(value)
            combined ^= pairHasher.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }
}

/// A dictionary that remembers insertion order, like a Python `dict`.
///
/// Keys are usually strings (message fields, JSON objects) but may be any value, as in Python
/// (`{0: 'a', 512: 'b'}`); `1`, `1.0` and `true` are the same key. Order matters for chat templates: `tojson` and
/// `items()` must list a tool's JSON fields in the order they were given. Equality ignores order, as in Python.
public struct JinjaDictionary: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    private var orderedKeys: [JinjaValue] = []
    private var storage: [JinjaValue: JinjaValue] = [:]

    /// An empty dictionary.
    public init() {}

    /// `["role": "user", 0: "zero"]`; later duplicates overwrite earlier ones.
    public init(dictionaryLiteral elements: (JinjaValue, JinjaValue)...) {
        for (key, value) in elements { self[key] = value }
    }

    /// A dictionary with the given pairs in order; a repeated key keeps its first position and its last value.
    public init<S: Sequence>(_ pairs: S) where S.Element == (String, JinjaValue) {
        for (key, value) in pairs { self[.string(key)] = value }
    }

    /// The keys in insertion order.
    public var keys: [JinjaValue] { orderedKeys }

    /// The values in key order.
    public var values: [JinjaValue] { orderedKeys.map { storage[$0] ?? .undefined } }

    /// Key/value pairs in insertion order.
    public var pairs: [(key: JinjaValue, value: JinjaValue)] { orderedKeys.map { ($0, storage[$0] ?? .undefined) } }

    /// The number of entries.
    public var count: Int { orderedKeys.count }
    /// Whether there are no entries.
    public var isEmpty: Bool { orderedKeys.isEmpty }

    /// Reads a value; setting `nil` removes the key. Setting an existing key keeps its position.
    public subscript(key: JinjaValue) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { orderedKeys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                orderedKeys.removeAll { $0 == key }
            }
        }
    }

    /// Reads or writes the value for a string key.
    public subscript(key: String) -> JinjaValue? {
        get { self[.string(key)] }
        set { self[.string(key)] = newValue }
    }

    public static func == (lhs: JinjaDictionary, rhs: JinjaDictionary) -> Bool {
        lhs.storage == rhs.storage
    }
}

extension JinjaValue {
    /// How Python's `json.dumps` writes a dict key: strings as they are, numbers and constants as JSON text.
    /// Nil for keys JSON cannot represent.
    var jsonKey: String? {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .double(let d): d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : PythonFloat.repr(d)
        case .bool(let b): b ? "true" : "false"
        case .none: "null"
        default: nil
        }
    }
}

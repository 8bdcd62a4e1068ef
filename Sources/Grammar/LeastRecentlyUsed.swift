/// A bounded map that forgets its least recently used entry first: the grammar caches' policy.
public struct LeastRecentlyUsed<Key: Hashable, Value> {
    private var values: [Key: Value] = [:]
    /// Keys, least recently used first.
    private var order: [Key] = []
    public let limit: Int

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The value for `key`, now the most recently used; nil if absent.
    public mutating func value(for key: Key) -> Value? {
        guard let value = values[key] else { return nil }
        if let i = order.lastIndex(of: key) { order.remove(at: i) }
        order.append(key)
        return value
    }

    /// Stores `value` as the most recently used, forgetting the least recently used entry beyond `limit`.
    public mutating func insert(_ value: Value, for key: Key) {
        if values.updateValue(value, forKey: key) == nil {
            order.append(key)
        } else if let i = order.lastIndex(of: key) {
            order.remove(at: i)
            order.append(key)
        }
        while order.count > limit { values[order.removeFirst()] = nil }
    }

    public var count: Int { values.count }
}

extension LeastRecentlyUsed: Sendable where Key: Sendable, Value: Sendable {}

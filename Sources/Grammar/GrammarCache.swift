import Synchronization

/// Compiled grammars by source text, shared by every request (validation at submission, then sampling): a schema
/// sent with every request of an application compiles once.
public final class GrammarCache: Sendable {
    /// The process-wide cache.
    public static let shared = GrammarCache(limit: 256)

    private struct Entries {
        var grammars: [String: Grammar] = [:]
        /// Sources, least recently used first.
        var order: [String] = []
    }
    private let entries = Mutex(Entries())
    private let limit: Int

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The grammar compiled from `gbnf` (compiled now if not cached).
    public func grammar(_ gbnf: String) throws(GrammarError) -> Grammar {
        if let cached = entries.withLock({ e -> Grammar? in
            guard let g = e.grammars[gbnf] else { return nil }
            if let i = e.order.lastIndex(of: gbnf) { e.order.remove(at: i) }
            e.order.append(gbnf)
            return g
        }) { return cached }
        let compiled = try Grammar(gbnf: gbnf)
        entries.withLock { e in
            if e.grammars.updateValue(compiled, forKey: gbnf) == nil { e.order.append(gbnf) }
            while e.order.count > limit { e.grammars[e.order.removeFirst()] = nil }
        }
        return compiled
    }

    /// Grammars held.
    public var count: Int { entries.withLock { $0.grammars.count } }
}

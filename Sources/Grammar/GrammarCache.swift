import Synchronization

/// Compiled grammars by source text, shared by every request (validation at submission, then sampling): a schema
/// sent with every request of an application compiles once.
public final class GrammarCache: Sendable {
    /// The process-wide cache.
    public static let shared = GrammarCache(limit: 256)

    private let entries: Mutex<LeastRecentlyUsed<String, Grammar>>

    public init(limit: Int) {
        entries = Mutex(LeastRecentlyUsed(limit: limit))
    }

    /// The grammar compiled from `gbnf` (compiled now if not cached).
    public func grammar(_ gbnf: String) throws(GrammarError) -> Grammar {
        if let cached = entries.withLock({ $0.value(for: gbnf) }) { return cached }
        let compiled = try Grammar(gbnf: gbnf)
        entries.withLock { $0.insert(compiled, for: gbnf) }
        return compiled
    }

    /// Grammars held.
    public var count: Int { entries.withLock { $0.count } }
}

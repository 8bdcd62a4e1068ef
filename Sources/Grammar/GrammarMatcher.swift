/// Grammar stacks, hash-consed: node `n` is "match the terminal (or continue after the rule reference) at grammar
/// position `positions[n]`, then continue with stack `parents[n]`". Equal stacks are one node, so a matcher state is
/// a small sorted array of node ids, cheap to compare and to use as a cache key.
///
/// Nodes are immutable once made; an arena only grows. It is a class so that trial matches (`accepts`) share the
/// nodes they make; a matcher and the copies made from it must stay on one thread.
final class StackArena {
    private(set) var positions: [Int32] = []
    private(set) var parents: [Int32] = []
    private var index: [UInt64: Int32] = [:]
    /// The empty stack: the grammar's start rule is complete.
    static let root: Int32 = -1
    /// An unknown stack below (used to find what a grammar position accepts whatever surrounds it).
    static let bottom: Int32 = -2

    var count: Int { positions.count }

    func node(_ position: Int32, _ parent: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: position)) << 32 | UInt64(UInt32(bitPattern: parent))
        if let id = index[key] { return id }
        let id = Int32(positions.count)
        positions.append(position)
        parents.append(parent)
        index[key] = id
        return id
    }
}

/// Where a grammar match stands: the stacks that can consume the next byte (each topped by a terminal), and whether
/// the text so far is already a complete sentence.
public struct MatchState: Hashable, Sendable {
    /// Node ids of the live stacks, sorted.
    var stacks: [Int32]
    /// The start rule can end here.
    public var canEnd: Bool
    /// Some path popped into the unknown stack below (precomputation only).
    var reachedBottom = false
    /// Nothing can follow: every path has ended or died.
    public var isExhausted: Bool { stacks.isEmpty }
}

extension Grammar {
    /// Expands grammar positions into the stacks topped by terminals that they can start with (rule references are
    /// entered, finished alternatives return to their caller), iteratively, each (position, parent) once.
    func close(_ seeds: [(position: Int32, parent: Int32)], arena: StackArena) -> MatchState {
        var state = MatchState(stacks: [], canEnd: false)
        var work = seeds
        var visited = Set<UInt64>(minimumCapacity: seeds.count * 4)
        while let (position, parent) = work.popLast() {
            let key = UInt64(UInt32(bitPattern: position)) << 32 | UInt64(UInt32(bitPattern: parent))
            guard visited.insert(key).inserted else { continue }
            let element = elements[Int(position)]
            if element >= 0 {
                state.stacks.append(arena.node(position, parent))
            } else if element == Self.endOfAlternative {
                switch parent {
                case StackArena.root: state.canEnd = true
                case StackArena.bottom: state.reachedBottom = true
                default: work.append((arena.positions[Int(parent)], arena.parents[Int(parent)]))
                }
            } else {
                let next = position + 1
                // A reference that ends its alternative returns straight to the caller's caller: right recursion and
                // repetition keep a constant stack depth.
                let caller = elements[Int(next)] == Self.endOfAlternative ? parent : arena.node(next, parent)
                for start in alternatives[Int(-element - 2)] { work.append((start, caller)) }
            }
        }
        state.stacks.sort()
        return state
    }

    /// The state after `byte`, or an exhausted state with `canEnd == false` when no stack accepts it.
    func advance(_ state: MatchState, _ byte: UInt8, arena: StackArena) -> MatchState {
        var seeds: [(position: Int32, parent: Int32)] = []
        for stack in state.stacks {
            let position = arena.positions[Int(stack)]
            if terminals[Int(elements[Int(position)])].contains(byte) {
                seeds.append((position + 1, arena.parents[Int(stack)]))
            }
        }
        if seeds.isEmpty { return MatchState(stacks: [], canEnd: false) }
        return close(seeds, arena: arena)
    }

    /// The state before any byte.
    func initialState(arena: StackArena) -> MatchState {
        close(alternatives[root].map { ($0, StackArena.root) }, arena: arena)
    }
}

/// Follows text through a grammar byte by byte: what may come next, and whether the text so far can end there.
///
/// Copies share their stack arena (see `StackArena`), so a matcher and its copies belong to one thread.
public struct GrammarMatcher {
    public let grammar: Grammar
    let arena: StackArena
    public private(set) var state: MatchState

    public init(_ grammar: Grammar) {
        self.grammar = grammar
        arena = StackArena()
        state = grammar.initialState(arena: arena)
    }

    /// Whether the text so far is a complete sentence (an end-of-sequence token may follow).
    public var canEnd: Bool { state.canEnd }
    /// Whether no byte can follow (the sentence is complete and cannot grow).
    public var isExhausted: Bool { state.isExhausted }

    /// Consumes `bytes` if the grammar allows all of them; otherwise leaves the matcher unchanged and returns false.
    @discardableResult
    public mutating func advance(_ bytes: some Sequence<UInt8>) -> Bool {
        guard let next = stateAfter(bytes) else { return false }
        state = next
        return true
    }

    /// Whether the grammar allows `bytes` next (the matcher does not move).
    public func accepts(_ bytes: some Sequence<UInt8>) -> Bool { stateAfter(bytes) != nil }

    func stateAfter(_ bytes: some Sequence<UInt8>, from start: MatchState? = nil) -> MatchState? {
        var current = start ?? state
        for byte in bytes {
            current = grammar.advance(current, byte, arena: arena)
            if current.stacks.isEmpty && !current.canEnd { return nil }
        }
        return current
    }
}

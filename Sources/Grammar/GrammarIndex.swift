/// One grammar over one vocabulary: which tokens each match state allows.
///
/// The tokens a grammar position accepts are mostly independent of what surrounds it, so they are found once per
/// position (walking the vocabulary's trie from that position alone, with an unknown stack below) and sorted into
/// three kinds, as xgrammar does: **accepted** whatever the context, **rejected** whatever the context, and
/// **uncertain** — those that finish the position's rule partway and so depend on the rest of the stack. A state's
/// mask is then the union over its stacks of the accepted set plus the uncertain tokens that the full stack accepts,
/// checked in sorted order so that tokens sharing a prefix share its matching and a dead prefix skips all of them.
///
/// Every walk runs on interned states with a lazily filled transition table (a DFA built as it is explored), so a
/// byte costs an array read once its transition is known: the trie of a 262k-token vocabulary is walked in
/// milliseconds. Masks are also cached by state: the states inside one JSON string repeat token after token.
///
/// Not thread-safe: each engine's sampling thread owns its indexes.
public final class GrammarIndex {
    public let grammar: Grammar
    public let vocabulary: TokenVocabulary
    let arena = StackArena()
    private var positions: [Int32: PositionTokens] = [:]
    private var dfa = StateTable()
    private var masks: [Int32: TokenMask] = [:]
    /// Masks kept per index (each is `vocabulary.size / 8` bytes).
    public static let maskCacheLimit = 512
    /// Interned states kept before the table starts over (each costs a 1 KiB transition row).
    static let stateLimit = 1 << 16

    struct PositionTokens {
        var accepted: TokenMask
        /// Indices into `vocabulary.sorted`, ascending.
        var uncertain: [Int32]
    }

    public init(grammar: Grammar, vocabulary: TokenVocabulary) {
        self.grammar = grammar
        self.vocabulary = vocabulary
    }

    /// The state before any output.
    public func initialState() -> MatchState { grammar.initialState(arena: arena) }

    /// The state after `token`, or nil if the grammar does not allow it.
    public func advance(_ state: MatchState, token: Int32) -> MatchState? {
        let bytes = vocabulary.bytes(of: token)
        return bytes.isEmpty ? nil : advance(state, bytes: bytes)
    }

    /// The state after `bytes`, or nil if the grammar does not allow them.
    public func advance(_ state: MatchState, bytes: some Sequence<UInt8>) -> MatchState? {
        startOverIfFull()
        var id = dfa.intern(state)
        for byte in bytes {
            id = step(id, byte)
            if id == StateTable.dead { return nil }
        }
        return dfa.states[Int(id)]
    }

    /// The tokens `state` allows next (end-of-sequence tokens are the caller's: allow them when `state.canEnd`).
    public func mask(for state: MatchState) -> TokenMask {
        startOverIfFull()
        let id = dfa.intern(state)
        if let cached = masks[id] { return cached }
        var mask = TokenMask(count: vocabulary.size)
        var seenPositions = Set<Int32>()
        for stack in state.stacks {
            let position = arena.positions[Int(stack)]
            let tokens = positionTokens(position)
            if seenPositions.insert(position).inserted { mask.formUnion(tokens.accepted) }
            addUncertain(tokens.uncertain, from: dfa.intern(MatchState(stacks: [stack], canEnd: false)), to: &mask)
        }
        if masks.count >= Self.maskCacheLimit { masks.removeAll(keepingCapacity: true) }
        masks[id] = mask
        return mask
    }

    /// Number of grammar positions whose token sets have been found so far.
    public var indexedPositions: Int { positions.count }

    // MARK: The transition table

    /// The state after `byte` from state `id` (`StateTable.dead` when nothing is left: no stack, no end, no
    /// unknown stack reached).
    @inline(__always) private func step(_ id: Int32, _ byte: UInt8) -> Int32 {
        let known = dfa.transitions[Int(id) << 8 | Int(byte)]
        if known != StateTable.unknown { return known }
        let next = grammar.advance(dfa.states[Int(id)], byte, arena: arena)
        let target = next.stacks.isEmpty && !next.canEnd && !next.reachedBottom ? StateTable.dead : dfa.intern(next)
        dfa.transitions[Int(id) << 8 | Int(byte)] = target
        return target
    }

    private func startOverIfFull() {
        if dfa.states.count > Self.stateLimit {
            dfa = StateTable()
            masks.removeAll()
        }
    }

    // MARK: Per-position token sets

    private func positionTokens(_ position: Int32) -> PositionTokens {
        if let known = positions[position] { return known }
        let found = classify(position)
        positions[position] = found
        return found
    }

    /// Walks the whole trie from `position` with an unknown stack below.
    private func classify(_ position: Int32) -> PositionTokens {
        let v = vocabulary
        var accepted = TokenMask(count: v.size)
        var uncertain: [Int32] = []
        let start = dfa.intern(MatchState(stacks: [arena.node(position, StackArena.bottom)], canEnd: false))
        var states: [Int32] = [start]
        var sticky = [false]  // a path reached the unknown stack before this depth's byte
        var node = 1
        while node < v.nodeCount {
            let depth = Int(v.nodeDepth[node])
            let reachedBefore = sticky[depth - 1]
            let next = step(states[depth - 1], v.nodeByte[node])
            if next == StateTable.dead {
                if !reachedBefore {
                    node = Int(v.nodeSkip[node])  // every token below is rejected
                    continue
                }
                for k in v.nodeFirst[node]..<v.nodeSubtreeEnd[node] { uncertain.append(k) }
                node = Int(v.nodeSkip[node])
                continue
            }
            let live = dfa.live[Int(next)], reachedNow = dfa.reachedBottom[Int(next)]
            let exactAccepted = live || reachedNow
            for k in v.nodeFirst[node]..<v.nodeLast[node] {
                if exactAccepted { accepted.insert(Int(v.sorted[Int(k)])) } else { uncertain.append(k) }
            }
            if !live {
                // Only the unknown stack can consume more: everything below depends on the context.
                for k in v.nodeLast[node]..<v.nodeSubtreeEnd[node] { uncertain.append(k) }
                node = Int(v.nodeSkip[node])
                continue
            }
            if states.count <= depth {
                states.append(next)
                sticky.append(reachedBefore || reachedNow)
            } else {
                states[depth] = next
                sticky[depth] = reachedBefore || reachedNow
            }
            node += 1
        }
        return PositionTokens(accepted: accepted, uncertain: uncertain)
    }

    /// Adds the tokens of `uncertain` (sorted indices) that state `start` accepts.
    private func addUncertain(_ uncertain: [Int32], from start: Int32, to mask: inout TokenMask) {
        let v = vocabulary
        var states: [Int32] = [start]
        var previous: ArraySlice<UInt8> = []
        var i = 0
        while i < uncertain.count {
            let id = v.sorted[Int(uncertain[i])]
            let bytes = v.bytes(of: id)
            var depth = 0
            let limit = min(previous.count, bytes.count, states.count - 1)
            while depth < limit, previous[previous.startIndex + depth] == bytes[bytes.startIndex + depth] { depth += 1 }
            states.removeSubrange((depth + 1)...)
            var dead = false
            while depth < bytes.count {
                let next = step(states[depth], bytes[bytes.startIndex + depth])
                if next == StateTable.dead {
                    dead = true
                    break
                }
                states.append(next)
                depth += 1
            }
            previous = bytes
            if !dead {
                mask.insert(Int(id))
                i += 1
                continue
            }
            // Every later token that shares the dead prefix (depth + 1 bytes) dies too: skip past them.
            let deadPrefix = bytes.prefix(depth + 1)
            i += 1
            while i < uncertain.count, v.bytes(of: v.sorted[Int(uncertain[i])]).starts(with: deadPrefix) { i += 1 }
        }
    }
}

/// Match states interned to small integers, with a transition row of 256 entries each, filled as bytes are tried.
struct StateTable {
    static let unknown: Int32 = -1
    static let dead: Int32 = -2

    private(set) var states: [MatchState] = []
    private var ids: [MatchState: Int32] = [:]
    var transitions: [Int32] = []
    /// Per state: it has stacks (more bytes can follow), and it reached the unknown stack below.
    private(set) var live: [Bool] = []
    private(set) var reachedBottom: [Bool] = []

    mutating func intern(_ state: MatchState) -> Int32 {
        if let id = ids[state] { return id }
        let id = Int32(states.count)
        states.append(state)
        ids[state] = id
        live.append(!state.stacks.isEmpty)
        reachedBottom.append(state.reachedBottom)
        transitions.append(contentsOf: repeatElement(Self.unknown, count: 256))
        return id
    }
}

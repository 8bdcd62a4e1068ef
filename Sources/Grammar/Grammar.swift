/// A context-free grammar over bytes, compiled for matching: every terminal is a set of byte values, so text in any
/// encoding — and tokens that end inside a UTF-8 character — are matched byte by byte.
///
/// Rules are lists of alternatives; an alternative is a sequence of symbols. The compiled form flattens every
/// alternative into one array of elements ending in an end marker, so a position in the grammar is one integer and
/// "the next symbol" is the next element. Left recursion is refused at compile time (the matcher expands rules
/// top-down); right recursion and repetition are fine.
///
/// Immutable once built, and so shared freely between requests and threads.
public final class Grammar: Sendable {
    /// One symbol of an alternative.
    public enum Symbol: Hashable, Sendable {
        case bytes(ByteSet)
        case rule(Int)
    }

    /// Flattened alternatives: `>= 0` is a terminal (index into `terminals`), `endOfAlternative` closes an
    /// alternative, and any other negative value `v` refers to rule `-(v + 2)`.
    let elements: [Int32]
    let terminals: [ByteSet]
    /// The first element of each alternative, per rule.
    let alternatives: [[Int32]]
    let ruleNames: [String]
    /// The start rule.
    let root: Int
    /// The text the grammar was compiled from (the identity the caches use).
    public let source: String

    static let endOfAlternative: Int32 = -1

    /// Limits that keep a hostile grammar from taking unbounded time or memory.
    public static let maxElements = 4_000_000

    init(rules: [[[Symbol]]], names: [String], root: Int, source: String) throws(GrammarError) {
        var elements: [Int32] = []
        var terminals: [ByteSet] = []
        var terminalIndex: [ByteSet: Int32] = [:]
        var alternatives: [[Int32]] = []
        for alts in rules {
            var starts: [Int32] = []
            for alt in alts {
                starts.append(Int32(elements.count))
                for symbol in alt {
                    switch symbol {
                    case .bytes(let set):
                        if let index = terminalIndex[set] {
                            elements.append(index)
                        } else {
                            terminalIndex[set] = Int32(terminals.count)
                            elements.append(Int32(terminals.count))
                            terminals.append(set)
                        }
                    case .rule(let r):
                        elements.append(-Int32(r) - 2)
                    }
                }
                elements.append(Self.endOfAlternative)
                if elements.count > Self.maxElements {
                    throw GrammarError(location: "", message: "the grammar is too large (more than \(Self.maxElements) symbols)")
                }
            }
            alternatives.append(starts)
        }
        self.elements = elements
        self.terminals = terminals
        self.alternatives = alternatives
        self.ruleNames = names
        self.root = root
        self.source = source
        try refuseLeftRecursion()
    }

    /// The rule an element refers to, if it is a rule reference.
    @inline(__always) func ruleReference(_ element: Int32) -> Int? {
        element < Self.endOfAlternative ? Int(-element - 2) : nil
    }

    /// Whether `text` as a whole is a sentence of the grammar.
    public func matches(_ text: String) -> Bool {
        var matcher = GrammarMatcher(self)
        return matcher.advance(Array(text.utf8)) && matcher.canEnd
    }

    // MARK: Left recursion

    /// Rules that can derive the empty string.
    func nullableRules() -> [Bool] {
        var nullable = [Bool](repeating: false, count: alternatives.count)
        var changed = true
        while changed {
            changed = false
            for (rule, starts) in alternatives.enumerated() where !nullable[rule] {
                for start in starts where allNullable(from: Int(start), nullable) {
                    nullable[rule] = true
                    changed = true
                    break
                }
            }
        }
        return nullable
    }

    private func allNullable(from start: Int, _ nullable: [Bool]) -> Bool {
        var i = start
        while elements[i] != Self.endOfAlternative {
            guard let r = ruleReference(elements[i]), nullable[r] else { return false }
            i += 1
        }
        return true
    }

    /// Refuses a rule that can reach itself without consuming a byte through a reference that has more to match after
    /// it: a top-down matcher would push a continuation for every expansion, forever. A cycle made only of references
    /// that end their alternatives (`s ::= x? s | ε`) is fine: they return straight to their caller, so the matcher's
    /// stacks stay the same and each expansion is met once.
    private func refuseLeftRecursion() throws(GrammarError) {
        let nullable = nullableRules()
        // Left-corner edges: rule → a rule that can start its expansion, and whether more follows the reference.
        var edges = [[(rule: Int, pushes: Bool)]](repeating: [], count: alternatives.count)
        for (rule, starts) in alternatives.enumerated() {
            for start in starts {
                var i = Int(start)
                while let r = ruleReference(elements[i]) {
                    edges[rule].append((r, elements[i + 1] != Self.endOfAlternative))
                    if !nullable[r] { break }
                    i += 1
                }
            }
        }
        let component = Self.stronglyConnectedComponents(edges.map { $0.map(\.rule) })
        for (rule, out) in edges.enumerated() {
            for edge in out where edge.pushes && component[edge.rule] == component[rule] {
                throw GrammarError(location: "rule \(ruleNames[rule])",
                                   message: "left recursion: \(ruleNames[rule]) can expand to itself (through \(ruleNames[edge.rule])) "
                                   + "without consuming input; rewrite it with repetition (x ::= y z*) or right recursion")
            }
        }
    }

    /// Tarjan's algorithm, iteratively: the component of each vertex.
    static func stronglyConnectedComponents(_ graph: [[Int]]) -> [Int] {
        let n = graph.count
        var index = [Int](repeating: -1, count: n), low = [Int](repeating: 0, count: n)
        var component = [Int](repeating: -1, count: n), onStack = [Bool](repeating: false, count: n)
        var stack: [Int] = [], counter = 0, components = 0
        for root in 0..<n where index[root] < 0 {
            var frames: [(vertex: Int, next: Int)] = [(root, 0)]
            index[root] = counter; low[root] = counter; counter += 1
            stack.append(root); onStack[root] = true
            while let frame = frames.last {
                let v = frame.vertex
                if frame.next < graph[v].count {
                    frames[frames.count - 1].next += 1
                    let w = graph[v][frame.next]
                    if index[w] < 0 {
                        index[w] = counter; low[w] = counter; counter += 1
                        stack.append(w); onStack[w] = true
                        frames.append((w, 0))
                    } else if onStack[w] {
                        low[v] = min(low[v], index[w])
                    }
                    continue
                }
                frames.removeLast()
                if let parent = frames.last { low[parent.vertex] = min(low[parent.vertex], low[v]) }
                if low[v] == index[v] {
                    while let w = stack.popLast() {
                        onStack[w] = false
                        component[w] = components
                        if w == v { break }
                    }
                    components += 1
                }
            }
        }
        return component
    }
}

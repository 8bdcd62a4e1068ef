/// A set of token ids as a bit set over a vocabulary.
public struct TokenMask: Equatable, Sendable {
    public private(set) var words: [UInt64]
    public let count: Int

    /// An empty set over ids `0..<count`.
    public init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    @inline(__always) public func contains(_ id: Int) -> Bool {
        id >= 0 && id < count && words[id >> 6] & (1 << UInt64(id & 63)) != 0
    }

    @inline(__always) public mutating func insert(_ id: Int) {
        guard id >= 0 && id < count else { return }
        words[id >> 6] |= 1 << UInt64(id & 63)
    }

    public mutating func formUnion(_ other: TokenMask) {
        precondition(other.count == count, "masks over different vocabularies")
        words.withUnsafeMutableBufferPointer { a in
            other.words.withUnsafeBufferPointer { b in
                for i in a.indices { a[i] |= b[i] }
            }
        }
    }

    public var isEmpty: Bool { !words.contains { $0 != 0 } }

    /// The number of ids in the set.
    public var population: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The ids in the set, ascending.
    public var ids: [Int32] {
        var out: [Int32] = []
        for (w, word) in words.enumerated() {
            var bits = word
            while bits != 0 {
                out.append(Int32(w * 64 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        return out
    }

    /// Sets every logit whose token is outside the set to -infinity.
    public func apply(to logits: inout [Float]) {
        let n = min(count, logits.count)
        logits.withUnsafeMutableBufferPointer { row in
            for w in 0..<words.count {
                let word = words[w]
                if word == .max { continue }
                let base = w * 64
                for bit in 0..<64 where base + bit < n && word & (1 << UInt64(bit)) == 0 {
                    row[base + bit] = -.infinity
                }
            }
            for i in n..<row.count { row[i] = -.infinity }
        }
    }
}

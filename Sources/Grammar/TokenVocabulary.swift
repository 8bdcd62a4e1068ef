/// The bytes of every token of a model's vocabulary, sorted into a trie, so that a grammar can find all the tokens it
/// allows in one walk that shares their common prefixes.
///
/// Tokens without bytes (control tokens such as `<|im_end|>`, and ids past the tokenizer's vocabulary) are never
/// allowed by a grammar; end-of-sequence tokens are allowed separately, where the grammar may end.
public final class TokenVocabulary: Sendable {
    /// Ids are `0..<size` (the model's logits row).
    public let size: Int
    /// Token bytes, flattened: token `id` is `bytes[offsets[id]..<offsets[id + 1]]`.
    let bytes: [UInt8]
    let offsets: [Int32]
    /// Token ids that have bytes, sorted by their bytes.
    let sorted: [Int32]
    // The trie in preorder; node 0 is the empty prefix.
    let nodeByte: [UInt8]
    let nodeDepth: [Int32]
    /// Preorder index just past the node's subtree.
    let nodeSkip: [Int32]
    /// `sorted[nodeFirst[n]..<nodeLast[n]]` end exactly at the node; `sorted[nodeFirst[n]..<nodeSubtreeEnd[n]]` are in
    /// its subtree.
    let nodeFirst: [Int32]
    let nodeLast: [Int32]
    let nodeSubtreeEnd: [Int32]

    /// - Parameters:
    ///   - tokens: the bytes of each id, nil for tokens a grammar never produces.
    ///   - size: the logits row length (at least `tokens.count`).
    public init(tokens: [[UInt8]?], size: Int) {
        self.size = max(size, tokens.count)
        var bytes: [UInt8] = []
        var offsets: [Int32] = [0]
        for token in tokens {
            bytes += token ?? []
            offsets.append(Int32(bytes.count))
        }
        for _ in tokens.count..<self.size { offsets.append(Int32(bytes.count)) }
        let ids = tokens.indices.filter { !(tokens[$0]?.isEmpty ?? true) }
        let sorted = ids.sorted { a, b in
            let x = tokens[a]!, y = tokens[b]!
            return x.lexicographicallyPrecedes(y) || (x == y && a < b)
        }.map { Int32($0) }
        var nodeByte: [UInt8] = [0], nodeDepth: [Int32] = [0], nodeSkip: [Int32] = [0]
        var nodeFirst: [Int32] = [0], nodeLast: [Int32] = [0], nodeSubtreeEnd: [Int32] = [Int32(sorted.count)]
        var path: [Int] = [0]  // node at each depth of the current prefix
        var previous: [UInt8] = []
        func close(downTo depth: Int, at k: Int) {
            while path.count > depth + 1 {
                let node = path.removeLast()
                nodeSkip[node] = Int32(nodeByte.count)
                nodeSubtreeEnd[node] = Int32(k)
            }
        }
        for (k, id) in sorted.enumerated() {
            let token = tokens[Int(id)]!
            var common = 0
            while common < min(token.count, previous.count), token[common] == previous[common] { common += 1 }
            close(downTo: common, at: k)
            for depth in common..<token.count {
                nodeByte.append(token[depth])
                nodeDepth.append(Int32(depth + 1))
                nodeSkip.append(0)
                nodeFirst.append(Int32(k))
                nodeLast.append(Int32(k))
                nodeSubtreeEnd.append(0)
                path.append(nodeByte.count - 1)
            }
            nodeLast[path[path.count - 1]] = Int32(k + 1)
            previous = token
        }
        close(downTo: 0, at: sorted.count)
        nodeSkip[0] = Int32(nodeByte.count)
        self.bytes = bytes
        self.offsets = offsets
        self.sorted = sorted
        self.nodeByte = nodeByte
        self.nodeDepth = nodeDepth
        self.nodeSkip = nodeSkip
        self.nodeFirst = nodeFirst
        self.nodeLast = nodeLast
        self.nodeSubtreeEnd = nodeSubtreeEnd
    }

    /// The bytes of a token (empty for tokens a grammar never produces).
    public func bytes(of id: Int32) -> ArraySlice<UInt8> {
        guard id >= 0, Int(id) < size else { return [] }
        return bytes[Int(offsets[Int(id)])..<Int(offsets[Int(id) + 1])]
    }

    var nodeCount: Int { nodeByte.count }
}

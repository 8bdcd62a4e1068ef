/// A trie over the UTF-8 bytes of token texts, for finding tokens written in text: each node that ends a text holds
/// a value (an index chosen by the owner). The root's children sit in a flat 256-entry table, so most positions of
/// a text are rejected with one lookup.
struct ByteTrie: Sendable {
    private struct Node: Sendable {
        var children: [UInt8: Int32] = [:]
        var value: Int32 = -1
    }

    private var nodes: [Node] = [Node()]
    private var rootChildren = [Int32](repeating: -1, count: 256)

    /// Adds `text` (not empty) with `value`; when `text` is already present, `replacing` decides which value stays.
    mutating func insert(_ text: String, value: Int32, replacing: Bool) {
        var node = 0
        for byte in text.utf8 {
            if let child = nodes[node].children[byte] {
                node = Int(child)
            } else {
                nodes.append(Node())
                nodes[node].children[byte] = Int32(nodes.count - 1)
                if node == 0 { rootChildren[Int(byte)] = Int32(nodes.count - 1) }
                node = nodes.count - 1
            }
        }
        if replacing || nodes[node].value < 0 { nodes[node].value = value }
    }

    /// Calls `body(value, end)` for every text that starts at `start` and ends at or before `end`, shortest first.
    @inline(__always)
    func forEachMatch(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, end: Int, _ body: (Int32, Int) -> Void) {
        var node = Int(rootChildren[Int(bytes[start])])
        var index = start + 1
        while node >= 0 {
            if nodes[node].value >= 0 { body(nodes[node].value, index) }
            guard index < end, let child = nodes[node].children[bytes[index]] else { return }
            node = Int(child)
            index += 1
        }
    }
}

import Foundation

/// An immutable hash table from token text (UTF-8 bytes) to token id, looked up with a slice of the input
/// so no string is built per lookup (SentencePiece merging asks "is this span a token?" for every pair).
struct TokenTable: Sendable {
    private let bytes: [UInt8]
    private let offsets: [Int32]
    /// Open addressing, load factor at most one half: a token index + 1 per slot, 0 for empty.
    private let slots: [Int32]
    private let shift: UInt64
    /// The length in bytes of the longest entry: longer spans are not looked up.
    let maxLength: Int

    /// A table of `tokens`, the id of each being its index; a later duplicate does not replace an earlier one.
    init(_ tokens: [String]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens.count * 8)
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(tokens.count + 1)
        var longest = 0
        for token in tokens {
            bytes.append(contentsOf: token.utf8)
            offsets.append(Int32(bytes.count))
            longest = max(longest, token.utf8.count)
        }
        var bits: UInt64 = 4
        while (1 << bits) < tokens.count * 2 { bits += 1 }
        var slots = [Int32](repeating: 0, count: 1 << bits)
        let shift = 64 - bits
        let mask = slots.count - 1
        bytes.withUnsafeBufferPointer { all in
            for index in tokens.indices {
                let span = UnsafeBufferPointer(rebasing: all[Int(offsets[index])..<Int(offsets[index + 1])])
                var slot = Int(truncatingIfNeeded: Self.hash(span) >> shift)
                var duplicate = false
                while slots[slot] != 0 {
                    let other = Int(slots[slot]) - 1
                    if all[Int(offsets[other])..<Int(offsets[other + 1])].elementsEqual(span) {
                        duplicate = true
                        break
                    }
                    slot = (slot + 1) & mask
                }
                if !duplicate { slots[slot] = Int32(index + 1) }
            }
        }
        self.bytes = bytes
        self.offsets = offsets
        self.slots = slots
        self.shift = shift
        self.maxLength = longest
    }

    /// FNV-1a over the bytes, then a multiplicative mix so the top bits (the slot) depend on every byte.
    @inline(__always)
    private static func hash(_ span: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in span { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash &* 0x9E37_79B9_7F4A_7C15
    }

    /// The id of the token spelled `bytes[range]`, or `nil`.
    @inline(__always)
    func id(_ span: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard span.count <= maxLength else { return nil }
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: Self.hash(span) >> shift)
        return bytes.withUnsafeBufferPointer { all in
            while true {
                let entry = Int(slots[slot])
                if entry == 0 { return nil }
                let index = entry - 1
                let start = Int(offsets[index])
                let end = Int(offsets[index + 1])
                if end - start == span.count, span.isEmpty || memcmp(all.baseAddress! + start, span.baseAddress!, span.count) == 0 {
                    return Int32(index)
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// The id of the token spelled `text`, or `nil`.
    func id(_ text: String) -> Int32? {
        var text = text
        return text.withUTF8 { id($0) }
    }
}

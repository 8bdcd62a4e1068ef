/// llama.cpp's SentencePiece (`llm_tokenizer_spm`) segmentation of one text fragment: every UTF-8 character
/// starts as a symbol; the adjacent pair whose concatenation is a vocabulary entry with the highest score is
/// merged (ties go to the leftmost pair) until no pair is an entry; a final symbol that is not an entry
/// becomes the byte tokens of its bytes (`<0xNN>`).
struct SentencePieceModel: Sendable {
    /// Every token's text → id (all token types take part, as in llama.cpp's `text_to_token`).
    let pieces: TokenTable
    /// Each token's score (`tokenizer.ggml.scores`): higher merges first.
    let scores: [Float]
    /// The id standing for each byte: `<0xNN>`, else the one-byte token, else `unknownID`, else -1 (dropped).
    let byteTokens: [Int32]

    init(tokens: [String], scores: [Float], unknownID: Int32?) {
        let table = TokenTable(tokens)
        pieces = table
        self.scores = scores
        byteTokens = (0..<256).map { byte -> Int32 in
            if let id = table.id(byteTokenName(UInt8(byte))) { return id }
            if byte < 0x80, let id = table.id(String(UnicodeScalar(UInt8(byte)))) { return id }
            return unknownID ?? -1
        }
    }

    /// The work-queue key of a candidate merge: the highest score first, then the leftmost symbol.
    @inline(__always)
    private static func key(score: Float, left: Int32) -> UInt64 {
        // Order-preserving map of the float to unsigned bits, inverted so the min-heap pops the highest score.
        let bits = score.bitPattern
        let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(~ordered) << 32 | UInt64(UInt32(bitPattern: left))
    }

    /// Appends the ids of `text` (already space-escaped with `▁`) to `ids`.
    func encode(_ text: UnsafeBufferPointer<UInt8>, scratch: inout SentencePieceScratch, into ids: inout [Int32]) {
        guard !text.isEmpty else { return }
        scratch.reset()
        var offset = 0
        while offset < text.count {
            let length = min(ValidUTF8.sequenceLength(lead: text[offset]), text.count - offset)
            scratch.start.append(Int32(offset))
            scratch.length.append(Int32(length))
            offset += length
        }
        let count = scratch.start.count
        for index in 0..<count {
            scratch.previous.append(Int32(index - 1))
            scratch.next.append(index + 1 < count ? Int32(index + 1) : -1)
        }
        for index in 1..<max(count, 1) { push(Int32(index - 1), Int32(index), text, &scratch) }
        while let bigram = scratch.queue.pop() {
            let left = Int(Int32(truncatingIfNeeded: bigram.key & 0xFFFF_FFFF))
            let right = Int(scratch.next[left])
            // Stale entries: the left symbol was merged away or grew, or its right neighbour grew.
            guard scratch.length[left] > 0, right >= 0,
                scratch.length[left] + scratch.length[right] == bigram.size
            else { continue }
            scratch.length[left] += scratch.length[right]
            scratch.length[right] = 0
            let after = scratch.next[right]
            scratch.next[left] = after
            if after >= 0 { scratch.previous[Int(after)] = Int32(left) }
            push(scratch.previous[left], Int32(left), text, &scratch)
            push(Int32(left), after, text, &scratch)
        }
        var index = 0
        while index >= 0 {
            let start = Int(scratch.start[index])
            let span = UnsafeBufferPointer(rebasing: text[start..<(start + Int(scratch.length[index]))])
            if let id = pieces.id(span) {
                ids.append(id)
            } else {
                for byte in span where byteTokens[Int(byte)] >= 0 { ids.append(byteTokens[Int(byte)]) }
            }
            index = Int(scratch.next[index])
        }
    }

    /// Queues the merge of two adjacent symbols if their concatenation is a token.
    @inline(__always)
    private func push(_ left: Int32, _ right: Int32, _ text: UnsafeBufferPointer<UInt8>, _ scratch: inout SentencePieceScratch) {
        guard left >= 0, right >= 0 else { return }
        let start = Int(scratch.start[Int(left)])
        let size = scratch.length[Int(left)] + scratch.length[Int(right)]
        guard Int(size) <= pieces.maxLength,
            let id = pieces.id(UnsafeBufferPointer(rebasing: text[start..<(start + Int(size))]))
        else { return }
        scratch.queue.push(SentencePieceScratch.Bigram(key: Self.key(score: scores[Int(id)], left: left), size: size))
    }
}

/// Reusable buffers for ``SentencePieceModel/encode(_:scratch:into:)``.
struct SentencePieceScratch {
    struct Bigram: Comparable {
        /// `~score << 32 | left symbol`: smaller is merged first.
        var key: UInt64
        /// The merged length in bytes, which tells a stale entry from a current one.
        var size: Int32

        static func < (a: Bigram, b: Bigram) -> Bool { a.key < b.key }
        static func == (a: Bigram, b: Bigram) -> Bool { a.key == b.key }
    }

    var start: [Int32] = []
    var length: [Int32] = []
    var previous: [Int32] = []
    var next: [Int32] = []
    var queue = MinHeap<Bigram>()

    mutating func reset() {
        start.removeAll(keepingCapacity: true)
        length.removeAll(keepingCapacity: true)
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        queue.removeAll()
    }
}

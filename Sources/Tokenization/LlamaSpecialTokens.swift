/// Splits text at special tokens the way llama.cpp's `tokenizer_st_partition` does, which differs from
/// Hugging Face's leftmost-longest matching: tokens are tried one at a time, longest text first (ties by id),
/// and each splits every text fragment left by the previous ones at all its non-overlapping, leftmost-first
/// occurrences. Control and unknown tokens only take part when special tokens are parsed; user-defined
/// tokens always do.
struct LlamaSpecialTokenSplitter: Sendable {
    /// The tokens in longest-first order.
    private let tokens: [(id: Int32, alwaysParsed: Bool)]
    /// Each token's text, valued by its rank (position in the longest-first order).
    private var trie = ByteTrie()

    /// - Parameter candidates: the token texts with their ids; `alwaysParsed` for user-defined tokens.
    init(_ candidates: [(text: String, id: Int32, alwaysParsed: Bool)]) {
        let ordered = candidates.filter { !$0.text.isEmpty }.sorted {
            ($0.text.utf8.count, -$0.id) > ($1.text.utf8.count, -$1.id)
        }
        tokens = ordered.map { ($0.id, $0.alwaysParsed) }
        for (rank, token) in ordered.enumerated() { trie.insert(token.text, value: Int32(rank), replacing: false) }
    }

    private struct Match {
        var start: Int
        var end: Int
        var rank: Int32
    }

    /// Splits `bytes[range]` into text and token segments, in order.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, parseSpecial: Bool, _ body: (Segment) -> Void) {
        var matches: [Match] = []
        for start in range {
            trie.forEachMatch(bytes, at: start, end: range.upperBound) { rank, end in
                if parseSpecial || tokens[Int(rank)].alwaysParsed { matches.append(Match(start: start, end: end, rank: rank)) }
            }
        }
        guard !matches.isEmpty else {
            if !range.isEmpty { body(.text(range)) }
            return
        }
        partition(range, matches[...], body)
    }

    /// Splits a fragment at the occurrences of the highest-ranked token among `matches` (all inside
    /// `range`, sorted by start), then the pieces between them by the remaining lower-ranked matches.
    private func partition(_ range: Range<Int>, _ matches: ArraySlice<Match>, _ body: (Segment) -> Void) {
        guard let best = matches.map(\.rank).min() else {
            if !range.isEmpty { body(.text(range)) }
            return
        }
        var pieceStart = range.lowerBound
        var rest: [Match] = []
        func flush(upTo end: Int) {
            rest.removeAll { $0.start < pieceStart || $0.end > end }
            partition(pieceStart..<end, rest[...], body)
            rest.removeAll()
        }
        for match in matches {
            if match.rank == best, match.start >= pieceStart {
                flush(upTo: match.start)
                body(.token(tokens[Int(best)].id))
                pieceStart = match.end
            } else if match.rank > best {
                rest.append(match)
            }
        }
        flush(upTo: range.upperBound)
    }
}

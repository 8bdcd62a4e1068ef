/// A token matched verbatim in the input before pre-tokenization: control tokens such as `<|im_start|>`
/// and user-defined tokens (Hugging Face `added_tokens`).
public struct AddedToken: Sendable, Equatable {
    /// The exact text that is matched.
    public var content: String
    /// The token id.
    public var id: Int32
    /// Special tokens are skipped by `decode(_:skipSpecial: true)` and not matched when `parseSpecial` is false.
    public var special: Bool
    /// Also consume the whitespace before the token.
    public var lstrip: Bool
    /// Also consume the whitespace after the token.
    public var rstrip: Bool
    /// Only match when not inside a word (no alphanumeric character right before or after).
    public var singleWord: Bool
    /// Matched after normalization (in the normalized text) rather than in the raw input.
    public var normalized: Bool

    /// Creates an added token; by default it is matched in the raw text, with no stripping.
    public init(
        content: String, id: Int32, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
        singleWord: Bool = false, normalized: Bool = false
    ) {
        self.content = content
        self.id = id
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
        self.normalized = normalized
    }
}

/// A piece of the input after added-token matching.
enum Segment {
    case text(Range<Int>)
    case token(Int32)
}

/// Finds added tokens in text the way `AddedVocabulary::find_matches` of `tokenizers` does: non-overlapping,
/// leftmost-longest matches (Aho-Corasick `LeftmostLongest`), then the `single_word`, `lstrip` and `rstrip` rules.
struct AddedTokenMatcher: Sendable {
    private let tokens: [AddedToken]
    /// Each token's content, valued by its index in `tokens` (a later duplicate wins).
    private var trie = ByteTrie()

    var isEmpty: Bool { tokens.isEmpty }

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        for (index, token) in tokens.enumerated() where !token.content.isEmpty {
            trie.insert(token.content, value: Int32(index), replacing: true)
        }
    }

    /// The longest token starting at `start` (not past `end`): its index in `tokens` and its end.
    @inline(__always)
    private func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, end: Int) -> (Int, Int)? {
        var best: (Int, Int)? = nil
        trie.forEachMatch(bytes, at: start, end: end) { token, end in best = (Int(token), end) }
        return best
    }

    /// Splits `bytes[range]` into text and token segments.
    /// - Parameter parseSpecial: when false, special tokens are left in the text (as `encode_special_tokens`).
    func split(
        _ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, parseSpecial: Bool, _ body: (Segment) -> Void
    ) {
        guard !tokens.isEmpty else {
            body(.text(range))
            return
        }
        var textStart = range.lowerBound
        var position = range.lowerBound
        while position < range.upperBound {
            guard let (tokenIndex, matchEnd) = longestMatch(bytes, at: position, end: range.upperBound) else {
                position += 1
                continue
            }
            let matchStart = position
            position = matchEnd
            let token = tokens[tokenIndex]
            if token.special, !parseSpecial { continue }
            if token.singleWord {
                let before = ValidUTF8.scalar(endingAt: matchStart, in: bytes, lower: range.lowerBound)
                let after = matchEnd < range.upperBound ? ValidUTF8.decode(bytes, at: matchEnd).value : nil
                if let before, UnicodeClasses.isAlphanumeric(before) { continue }
                if let after, UnicodeClasses.isAlphanumeric(after) { continue }
            }
            var start = matchStart
            var stop = matchEnd
            if token.lstrip {
                var newStart = matchStart
                while let scalar = ValidUTF8.scalar(endingAt: newStart, in: bytes, lower: range.lowerBound),
                    UnicodeClasses.isWhitespace(scalar)
                {
                    newStart -= ValidUTF8.length(of: scalar)
                }
                start = max(newStart, textStart)
            }
            if token.rstrip {
                while stop < range.upperBound {
                    let (scalar, length) = ValidUTF8.decode(bytes, at: stop)
                    guard UnicodeClasses.isWhitespace(scalar) else { break }
                    stop += length
                }
                // `tokenizers` would go on matching inside the stripped whitespace and produce overlapping
                // pieces; matching resumes after it instead.
                position = max(position, stop)
            }
            if textStart < start { body(.text(textStart..<start)) }
            body(.token(token.id))
            textStart = stop
        }
        if textStart < range.upperBound { body(.text(textStart..<range.upperBound)) }
    }
}

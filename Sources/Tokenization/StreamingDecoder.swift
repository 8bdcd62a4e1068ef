/// Incremental UTF-8 decoding with the replacement rules of Rust's `String::from_utf8_lossy` (the Unicode
/// "maximal subpart" practice): each maximal prefix of a valid sequence that cannot be completed becomes one
/// U+FFFD. Bytes that may still become a valid character are held back until more arrive or `finish()`.
struct UTF8Repair: Sendable {
    private var pending: [UInt8] = []

    /// Adds bytes; returns the text that is now complete.
    mutating func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        pending.append(contentsOf: bytes)
        return drain(final: false)
    }

    /// Returns the text of the held-back bytes (a trailing incomplete sequence becomes U+FFFD).
    mutating func finish() -> String {
        drain(final: true)
    }

    /// Whether bytes are held back waiting for the rest of a character.
    var hasPendingBytes: Bool { !pending.isEmpty }

    private static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// The accepted range of the second byte of a sequence starting with `lead` (Unicode Table 3-7), and the
    /// sequence length; `nil` for bytes that cannot start a sequence.
    private static func shape(of lead: UInt8) -> (length: Int, second: ClosedRange<UInt8>)? {
        switch lead {
        case 0xC2...0xDF: return (2, 0x80...0xBF)
        case 0xE0: return (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: return (3, 0x80...0xBF)
        case 0xED: return (3, 0x80...0x9F)
        case 0xF0: return (4, 0x90...0xBF)
        case 0xF1...0xF3: return (4, 0x80...0xBF)
        case 0xF4: return (4, 0x80...0x8F)
        default: return nil
        }
    }

    private mutating func drain(final: Bool) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(pending.count + 3)
        var index = 0
        let count = pending.count
        scan: while index < count {
            let lead = pending[index]
            if lead < 0x80 {
                output.append(lead)
                index += 1
                continue
            }
            guard let (length, second) = Self.shape(of: lead) else {
                output.append(contentsOf: Self.replacement)
                index += 1
                continue
            }
            var valid = 1
            while valid < length {
                guard index + valid < count else {
                    // The sequence is a valid prefix cut off by the end of the bytes so far.
                    if final {
                        output.append(contentsOf: Self.replacement)
                        index = count
                    }
                    break scan
                }
                let byte = pending[index + valid]
                let accepted = valid == 1 ? second.contains(byte) : (0x80...0xBF).contains(byte)
                guard accepted else { break }
                valid += 1
            }
            if valid == length {
                output.append(contentsOf: pending[index..<(index + length)])
            } else {
                output.append(contentsOf: Self.replacement)
            }
            index += valid
        }
        pending.removeFirst(index)
        return String(decoding: output, as: UTF8.self)
    }
}

/// Turns generated token ids into text as they arrive, never splitting a multi-byte character: a token that
/// ends inside a character (byte-level BPE often splits emoji and CJK across tokens, SentencePiece writes them
/// as `<0xNN>` byte tokens) yields text only once the character is complete. The concatenation of everything
/// returned, including ``finish()``, equals ``BPETokenizer/decode(_:skipSpecial:)`` of all the ids (the same
/// leading-space rules included).
public struct StreamingDecoder: Sendable {
    /// The tokenizer whose tokens are decoded.
    public let tokenizer: BPETokenizer
    /// Whether special (control) tokens are left out.
    public let skipSpecial: Bool
    private var state = DecodeState()

    /// Starts a stream for `tokenizer`; by default special tokens (such as `<|im_end|>`) produce no text.
    public init(tokenizer: BPETokenizer, skipSpecial: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// Adds one token; returns the text completed by it (often empty in the middle of a character).
    /// - Throws: ``TokenizationError/tokenIDOutOfRange(id:vocabularySize:)``; the decoder is unchanged then.
    public mutating func append(_ id: Int32) throws(TokenizationError) -> String {
        try tokenizer.decodeStep(id, skipSpecial: skipSpecial, state: &state)
    }

    /// Ends the stream: returns the text of any held-back bytes (an unfinished character becomes U+FFFD) and
    /// resets the decoder for a new stream.
    public mutating func finish() -> String {
        tokenizer.decodeFinish(state: &state)
    }

    /// Whether bytes of an unfinished character are held back.
    public var hasPendingBytes: Bool { state.hasPendingBytes }
}

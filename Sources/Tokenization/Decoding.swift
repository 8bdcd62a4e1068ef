/// What decoding does beyond concatenating the bytes of each token, per tokenizer family.
struct DecodingRules: Sendable {
    /// llama.cpp with `add_space_prefix`: one leading space of the first token's piece is removed (a BOS
    /// first absorbs the rule, so the text after it keeps its space).
    var stripFirstTokenSpace = false
    /// The `Strip` decoder of `tokenizers` after `Fuse`: up to this many leading spaces of the text go.
    var stripLeadingSpaces = 0
    /// The `Metaspace` decoder of `tokenizers` (prepend scheme not `never`): in the first decoded token the
    /// replacement characters are dropped instead of becoming spaces.
    var dropMetaspaceInFirstToken = false
    /// The `ByteFallback` decoder of `tokenizers`: a run of `<0xNN>` tokens becomes its bytes if they are
    /// valid UTF-8, else one U+FFFD per token (llama.cpp just writes the bytes).
    var byteFallbackRuns = false
}

/// The state of decoding one sequence of ids, shared by ``BPETokenizer/decode(_:skipSpecial:)`` and the
/// ``StreamingDecoder`` so that the two agree by construction.
struct DecodeState: Sendable {
    var repair = UTF8Repair()
    /// Ids seen, skipped ones included (llama.cpp's first-token rule).
    var tokens = 0
    /// Ids decoded, skipped ones excluded (the first token of a `tokenizers` decoder chain).
    var decodedTokens = 0
    /// Leading spaces still to strip (`nil`: the rule's count, nothing emitted yet; 0 once a non-space was).
    var stripRemaining: Int?
    /// The bytes of a run of byte-fallback tokens (one byte each) not yet known to be valid UTF-8.
    var byteRun: [UInt8] = []

    var hasPendingBytes: Bool { repair.hasPendingBytes || !byteRun.isEmpty }
}

extension BPETokenizer {
    /// Decodes one more id; returns the text it completes.
    func decodeStep(_ id: Int32, skipSpecial: Bool, state: inout DecodeState) throws(TokenizationError) -> String {
        guard id >= 0, Int(id) < vocabularySize else {
            throw .tokenIDOutOfRange(id: id, vocabularySize: vocabularySize)
        }
        let first = state.tokens == 0
        state.tokens += 1
        if skipSpecial, isSpecial(id) { return "" }
        var bytes = pieceBytes(id)
        if decodingRules.byteFallbackRuns, isByteFallbackToken(id) {
            state.byteRun.append(contentsOf: bytes)
            state.decodedTokens += 1
            return ""
        }
        if decodingRules.dropMetaspaceInFirstToken, state.decodedTokens == 0, let text = tokenString(id) {
            bytes = Array(text.replacingOccurrences(of: "▁", with: "").utf8)[...]
        }
        if decodingRules.stripFirstTokenSpace, first, bytes.first == 0x20 { bytes = bytes.dropFirst() }
        state.decodedTokens += 1
        var output = Self.flushByteRun(&state)
        output.append(contentsOf: bytes)
        return emit(output, &state)
    }

    /// Ends decoding: the text of everything held back; the state is reset for a new sequence.
    func decodeFinish(state: inout DecodeState) -> String {
        let text = emit(Self.flushByteRun(&state), &state) + state.repair.finish()
        state = DecodeState()
        return text
    }

    private static func flushByteRun(_ state: inout DecodeState) -> [UInt8] {
        guard !state.byteRun.isEmpty else { return [] }
        defer { state.byteRun.removeAll() }
        if String(validating: state.byteRun, as: UTF8.self) != nil { return state.byteRun }
        return Array(repeating: [0xEF, 0xBF, 0xBD], count: state.byteRun.count).flatMap { $0 }
    }

    private func emit(_ bytes: [UInt8], _ state: inout DecodeState) -> String {
        var bytes = bytes[...]
        var remaining = state.stripRemaining ?? decodingRules.stripLeadingSpaces
        while remaining > 0, let byte = bytes.first {
            if byte == 0x20 {
                bytes = bytes.dropFirst()
                remaining -= 1
            } else {
                remaining = 0
            }
        }
        state.stripRemaining = remaining
        return state.repair.append(bytes)
    }
}

/// llama.cpp's encoding of a SentencePiece (`llama`) vocabulary: special tokens split off first
/// (``LlamaSpecialTokenSplitter``), then each text fragment gets a leading space if it follows the start or
/// a special token (with `add_space_prefix`), has its spaces escaped as `▁`, and is segmented by score.
struct SentencePieceEncoder: Sendable {
    let splitter: LlamaSpecialTokenSplitter
    let model: SentencePieceModel
    let addSpacePrefix: Bool

    private static let escapedSpace = Array("▁".utf8)

    func encode(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, into ids: inout [Int32]) {
        var scratch = SentencePieceScratch()
        var text: [UInt8] = []
        var afterSpecial = true
        splitter.split(bytes, range: 0..<bytes.count, parseSpecial: parseSpecial) { segment in
            switch segment {
            case let .token(id):
                ids.append(id)
                afterSpecial = true
            case let .text(range):
                text.removeAll(keepingCapacity: true)
                text.reserveCapacity(range.count + range.count / 2 + 3)
                if addSpacePrefix, afterSpecial { text.append(contentsOf: Self.escapedSpace) }
                for byte in bytes[range] {
                    if byte == 0x20 { text.append(contentsOf: Self.escapedSpace) } else { text.append(byte) }
                }
                text.withUnsafeBufferPointer { model.encode($0, scratch: &scratch, into: &ids) }
                afterSpecial = false
            }
        }
    }
}

extension BPETokenizer {
    /// Builds a tokenizer from the arrays of a GGUF SentencePiece vocabulary (`tokenizer.ggml.model =
    /// "llama"`: Llama 2, Mistral, Phi-3, Gemma, ...), token-exact with llama.cpp.
    ///
    /// Token types (``GGUFTokenType``): control and unknown tokens are special added tokens, matched in the
    /// text only with `parseSpecial`; user-defined tokens are always matched and decode verbatim; byte tokens
    /// (`<0xNN>`) decode to their byte and stand for bytes that no token covers; unused tokens decode to
    /// nothing; normal tokens decode with `▁` as a space.
    ///
    /// - Parameters:
    ///   - tokens: the token texts (`tokenizer.ggml.tokens`); the id of a token is its index. An empty text
    ///     becomes `[EMPTY_<id>]`, as in llama.cpp.
    ///   - scores: `tokenizer.ggml.scores` (merge priority: higher first), or `nil` for all zero.
    ///   - tokenTypes: `tokenizer.ggml.token_type`, or `nil` for all normal.
    ///   - specialTokens: BOS, EOS, UNK, padding and end-of-turn ids.
    ///   - addBOS: `tokenizer.ggml.add_bos_token` (llama.cpp's default when `nil`: true).
    ///   - addEOS: `tokenizer.ggml.add_eos_token` (default false).
    ///   - addSpacePrefix: `tokenizer.ggml.add_space_prefix` (default true; Gemma sets false): put a space
    ///     before text at the start or after a special token, and drop it again when decoding.
    /// - Throws: ``TokenizationError/invalidVocabulary(_:)`` when the arrays are inconsistent or a token
    ///   appears twice.
    public convenience init(
        sentencePieceTokens tokens: [String], scores: [Float]?, tokenTypes: [Int32]?,
        specialTokens: SpecialTokenIDs, addBOS: Bool? = nil, addEOS: Bool? = nil, addSpacePrefix: Bool? = nil
    ) throws(TokenizationError) {
        try Self.checkArrays(tokens: tokens, tokenTypes: tokenTypes)
        if let scores, scores.count != tokens.count {
            throw .invalidVocabulary(
                "tokenizer.ggml.scores has \(scores.count) entries but tokenizer.ggml.tokens has \(tokens.count)")
        }
        let texts = tokens.enumerated().map { $0.element.isEmpty ? "[EMPTY_\($0.offset)]" : $0.element }
        let model = SentencePieceModel(
            tokens: texts, scores: scores ?? [Float](repeating: 0, count: texts.count), unknownID: specialTokens.unknown)
        for (id, text) in texts.enumerated() {
            if let other = model.pieces.id(text), Int(other) != id {
                throw .invalidVocabulary("the token \(String(reflecting: text)) has two ids, \(other) and \(id)")
            }
        }
        let types = tokenTypes ?? [Int32](repeating: GGUFTokenType.normal.rawValue, count: texts.count)
        var added: [AddedToken] = []
        var candidates: [(text: String, id: Int32, alwaysParsed: Bool)] = []
        for (id, type) in types.enumerated() {
            switch GGUFTokenType(rawValue: type) {
            case .control, .unknown:
                added.append(AddedToken(content: texts[id], id: Int32(id), special: true))
                candidates.append((texts[id], Int32(id), false))
            case .userDefined:
                added.append(AddedToken(content: texts[id], id: Int32(id), special: false))
                candidates.append((texts[id], Int32(id), true))
            default:
                break
            }
        }
        let addSpacePrefix = addSpacePrefix ?? true
        let encoder = SentencePieceEncoder(
            splitter: LlamaSpecialTokenSplitter(candidates), model: model, addSpacePrefix: addSpacePrefix)
        var rules = DecodingRules()
        rules.stripFirstTokenSpace = addSpacePrefix
        try self.init(
            Parts(
                tokenStrings: texts, addedTokens: added, encoder: .sentencePiece(encoder),
                piece: { id, text in Self.sentencePiecePiece(text, type: GGUFTokenType(rawValue: types[id])) },
                decodingRules: rules, lookup: model.pieces, preTokenizer: nil,
                prefix: try Self.template(addBOS ?? true, specialTokens.bos, "add_bos_token", "BOS"),
                suffix: try Self.template(addEOS ?? false, specialTokens.eos, "add_eos_token", "EOS"),
                specialTokens: specialTokens))
    }

    /// What llama.cpp's `token_to_piece` writes for a token of a SentencePiece vocabulary.
    static func sentencePiecePiece(_ text: String, type: GGUFTokenType?) -> [UInt8] {
        switch type {
        case .normal:
            return unescapingSpaces(text)
        case .byte:
            return byteTokenValue(text).map { [$0] } ?? Array(text.utf8)
        case .control, .unknown, .userDefined:
            return Array(text.utf8)
        case .unused, nil:
            return []
        }
    }
}

/// The UTF-8 of `text` with every `▁` (U+2581) written as a space.
func unescapingSpaces(_ text: String) -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity(text.utf8.count)
    var pending = 0  // how many bytes of E2 96 81 are matched
    for byte in text.utf8 {
        if byte == [0xE2, 0x96, 0x81][pending] {
            pending += 1
            if pending == 3 {
                output.append(0x20)
                pending = 0
            }
            continue
        }
        if pending > 0 { output.append(contentsOf: [0xE2, 0x96, 0x81][..<pending]) }
        pending = byte == 0xE2 ? 1 : 0
        if pending == 0 { output.append(byte) }
    }
    if pending > 0 { output.append(contentsOf: [0xE2, 0x96, 0x81][..<pending]) }
    return output
}

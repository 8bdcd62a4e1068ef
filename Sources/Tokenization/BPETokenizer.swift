/// The ids of a vocabulary's special tokens (any may be absent), e.g. from `tokenizer.ggml.*_token_id`.
public struct SpecialTokenIDs: Sendable, Equatable {
    /// Beginning of sequence.
    public var bos: Int32?
    /// End of sequence; ends generation.
    public var eos: Int32?
    /// The unknown token (byte-level BPE never needs it for GGUF vocabularies; SentencePiece vocabularies use
    /// it for a byte that has no byte token).
    public var unknown: Int32?
    /// Padding.
    public var padding: Int32?
    /// End of turn (`tokenizer.ggml.eot_token_id`); ends generation.
    public var endOfTurn: Int32?

    /// Creates a set of special token ids; absent ones are `nil`.
    public init(bos: Int32? = nil, eos: Int32? = nil, unknown: Int32? = nil, padding: Int32? = nil, endOfTurn: Int32? = nil) {
        self.bos = bos
        self.eos = eos
        self.unknown = unknown
        self.padding = padding
        self.endOfTurn = endOfTurn
    }
}

/// GGUF `tokenizer.ggml.token_type` values.
public enum GGUFTokenType: Int32, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// A tokenizer of one of the two families Brigade reads, token-exact with its reference:
/// - byte-level BPE of the GPT-2 family (GPT-2, SmolLM, Llama 3, Qwen 2, StarCoder, ...), as Hugging Face
///   `tokenizers` does it;
/// - SentencePiece-style vocabularies (Llama 2, Phi-3, Gemma), where `▁` stands for a space and `<0xNN>`
///   tokens for bytes: from GGUF (`tokenizer.ggml.model = "llama"`) as llama.cpp segments them (merges by
///   score), from a `tokenizer.json` (a `BPE` model with `byte_fallback`) as `tokenizers` does.
///
/// Encoding: added tokens (control and user-defined tokens) are matched first; the text between them is
/// normalized, split into words and merged. Immutable once built, so it can be shared between tasks.
public final class BPETokenizer: Sendable {
    /// The word-splitting rules of byte-level BPE; `nil` for SentencePiece-style tokenizers, which do not
    /// split text into words by a pattern.
    public let preTokenizer: PreTokenizer?
    /// The ids of BOS, EOS, UNK and padding, as configured.
    public let specialTokens: SpecialTokenIDs
    /// Ids that end generation: EOS, the end-of-turn id, and the special tokens that end a turn
    /// (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`, ... — the list llama.cpp uses).
    public let eosTokenIDs: Set<Int32>
    /// Ids `encode(_:addSpecialTokens: true)` puts before the text (BOS when the tokenizer adds it).
    public let prefixTokenIDs: [Int32]
    /// Ids `encode(_:addSpecialTokens: true)` puts after the text (EOS when the tokenizer adds it).
    public let suffixTokenIDs: [Int32]
    /// The added tokens (control, unknown and user-defined), matched verbatim before pre-tokenization.
    public let addedTokens: [AddedToken]

    let encoder: Encoder
    let decodingRules: DecodingRules
    private let tokenStrings: [String]
    /// Text → id by exact bytes (added tokens included; the lowest id wins for a repeated text).
    private let idsByToken: TokenTable
    private let specialFlags: [Bool]
    private let byteFallbackFlags: [Bool]
    private let decodedBytes: [UInt8]
    private let decodedOffsets: [Int]

    /// Special tokens that end a turn (llama.cpp's end-of-generation list).
    private static let endOfGenerationTokens: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ]

    /// The encoding pipelines.
    enum Encoder: Sendable {
        /// `tokenizers`: added tokens, normalizer, pre-tokenizer, BPE.
        case huggingFace(HuggingFaceEncoder)
        /// llama.cpp's SentencePiece tokenizer.
        case sentencePiece(SentencePieceEncoder)
    }

    /// Everything a front end (GGUF arrays, `tokenizer.json`) prepares for the designated initializer.
    struct Parts {
        /// The text of every id (vocabulary entry or added token content; "" for unused ids).
        var tokenStrings: [String]
        var addedTokens: [AddedToken]
        var encoder: Encoder
        /// The bytes each id decodes to, given its id and text.
        var piece: (Int, String) -> [UInt8]
        var decodingRules = DecodingRules()
        /// A text → id table of `tokenStrings` already built (when added tokens do not change them), else `nil`.
        var lookup: TokenTable? = nil
        /// Ids that the `ByteFallback` decoder treats as bytes.
        var byteFallbackIDs: [Int32] = []
        var preTokenizer: PreTokenizer?
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        var specialTokens: SpecialTokenIDs
        /// Further ids to check against the vocabulary size, with what they are.
        var otherIDs: [(Int32?, String)] = []
    }

    /// Builds a tokenizer from the vocabulary arrays of a GGUF file (`tokenizer.ggml.*`) of a byte-level BPE
    /// model (`tokenizer.ggml.model = "gpt2"`).
    ///
    /// - Parameters:
    ///   - tokens: the token strings in byte-level form; the id of a token is its index.
    ///   - merges: the merges, `"left right"`, highest priority first.
    ///   - tokenTypes: GGUF token types (``GGUFTokenType``): control tokens become special added tokens,
    ///     user-defined tokens non-special added tokens. `nil` means all normal.
    ///   - preTokenizer: how to split text into words (see ``GGUFPreTokenizer`` for `tokenizer.ggml.pre`).
    ///   - ignoreMerges: take a word that is itself a token whole, before merging (Llama 3).
    ///   - specialTokens: BOS, EOS, UNK, padding and end-of-turn ids.
    ///   - addBOS: put BOS before the text when encoding with `addSpecialTokens`.
    ///   - addEOS: put EOS after the text when encoding with `addSpecialTokens`.
    /// - Throws: ``TokenizationError/invalidVocabulary(_:)`` when the arrays are inconsistent.
    public convenience init(
        tokens: [String], merges: [String], tokenTypes: [Int32]? = nil, preTokenizer: PreTokenizer,
        ignoreMerges: Bool = false, specialTokens: SpecialTokenIDs = SpecialTokenIDs(), addBOS: Bool = false,
        addEOS: Bool = false
    ) throws(TokenizationError) {
        try Self.checkArrays(tokens: tokens, tokenTypes: tokenTypes)
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() { vocabulary[token] = Int32(id) }
        let pairs = try Self.splitMerges(merges)
        var added: [AddedToken] = []
        for (id, type) in (tokenTypes ?? []).enumerated() {
            if type == GGUFTokenType.control.rawValue || type == GGUFTokenType.userDefined.rawValue {
                added.append(AddedToken(content: tokens[id], id: Int32(id), special: type == GGUFTokenType.control.rawValue))
            }
        }
        let model = try BytePairModel(
            byteLevelVocabulary: vocabulary, merges: pairs, ignoreMerges: ignoreMerges, unknownID: nil)
        let encoder = HuggingFaceEncoder(
            rawMatcher: AddedTokenMatcher(added), normalizedMatcher: AddedTokenMatcher([]), normalizer: .none,
            words: .pattern(preTokenizer), model: model)
        try self.init(
            Parts(
                tokenStrings: tokens, addedTokens: added, encoder: .huggingFace(encoder),
                piece: { _, text in ByteLevel.decode(text) }, preTokenizer: preTokenizer,
                prefix: try Self.template(addBOS, specialTokens.bos, "addBOS", "BOS"),
                suffix: try Self.template(addEOS, specialTokens.eos, "addEOS", "EOS"), specialTokens: specialTokens))
    }

    /// Builds a tokenizer from GGUF arrays, applying llama.cpp's settings for the `tokenizer.ggml.pre` name.
    ///
    /// - Parameters:
    ///   - ggufPreTokenizer: the `tokenizer.ggml.pre` value.
    ///   - addBOS: `tokenizer.ggml.add_bos_token`, or `nil` if absent (then the name's default applies).
    ///   - addEOS: `tokenizer.ggml.add_eos_token`, or `nil` if absent.
    /// - Throws: ``TokenizationError/unknownPreTokenizer(name:supported:)`` for an unsupported name, and the
    ///   errors of the array initializer.
    public convenience init(
        tokens: [String], merges: [String], tokenTypes: [Int32]?, ggufPreTokenizer name: String,
        specialTokens: SpecialTokenIDs, addBOS: Bool?, addEOS: Bool?
    ) throws(TokenizationError) {
        let configuration = try GGUFPreTokenizer(name: name)
        try self.init(
            tokens: tokens, merges: merges, tokenTypes: tokenTypes, preTokenizer: configuration.preTokenizer,
            ignoreMerges: configuration.ignoreMerges, specialTokens: specialTokens,
            addBOS: addBOS ?? configuration.addsBOSByDefault, addEOS: addEOS ?? false)
    }

    static func checkArrays(tokens: [String], tokenTypes: [Int32]?) throws(TokenizationError) {
        guard tokens.count < Int32.max else {
            throw .invalidVocabulary("\(tokens.count) tokens do not fit 32-bit token ids")
        }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw .invalidVocabulary(
                "tokenizer.ggml.token_type has \(tokenTypes.count) entries but tokenizer.ggml.tokens has \(tokens.count)")
        }
    }

    static func splitMerges(_ merges: [String]) throws(TokenizationError) -> [(Substring, Substring)] {
        var pairs: [(Substring, Substring)] = []
        pairs.reserveCapacity(merges.count)
        for (index, merge) in merges.enumerated() {
            // llama.cpp looks for the separating space from the second character on.
            guard let space = merge.dropFirst().firstIndex(of: " ") else {
                throw .invalidVocabulary("merge #\(index) \"\(merge)\" is not two tokens separated by a space")
            }
            pairs.append((merge[..<space], merge[merge.index(after: space)...]))
        }
        return pairs
    }

    /// The BOS or EOS template, checking that the id exists when it is to be added.
    static func template(_ add: Bool, _ id: Int32?, _ flag: String, _ name: String) throws(TokenizationError) -> [Int32] {
        guard add else { return [] }
        guard let id else { throw .invalidVocabulary("\(flag) is set but there is no \(name) token id") }
        return [id]
    }

    /// The designated initializer shared by the GGUF and `tokenizer.json` paths: checks every configured id
    /// and tabulates the vocabulary.
    init(_ parts: Parts) throws(TokenizationError) {
        let size = parts.tokenStrings.count
        func check(_ id: Int32?, _ what: String) throws(TokenizationError) {
            if let id, id < 0 || Int(id) >= size {
                throw .invalidVocabulary("the \(what) token id \(id) is outside the vocabulary of \(size) tokens")
            }
        }
        let specialTokens = parts.specialTokens
        try check(specialTokens.bos, "BOS")
        try check(specialTokens.eos, "EOS")
        try check(specialTokens.unknown, "unknown")
        try check(specialTokens.padding, "padding")
        try check(specialTokens.endOfTurn, "end-of-turn")
        for (id, what) in parts.otherIDs { try check(id, what) }
        for id in parts.prefix + parts.suffix { try check(id, "template") }
        for token in parts.addedTokens { try check(token.id, "added \"\(token.content)\"") }
        for id in parts.byteFallbackIDs { try check(id, "byte") }

        var strings = parts.tokenStrings
        var flags = [Bool](repeating: false, count: size)
        for token in parts.addedTokens {
            strings[Int(token.id)] = token.content
            if token.special { flags[Int(token.id)] = true }
        }
        var byteFlags: [Bool] = []
        if !parts.byteFallbackIDs.isEmpty {
            byteFlags = [Bool](repeating: false, count: size)
            for id in parts.byteFallbackIDs { byteFlags[Int(id)] = true }
        }
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(size + 1)
        for (id, string) in strings.enumerated() {
            bytes.append(contentsOf: parts.piece(id, string))
            offsets.append(bytes.count)
        }
        var endOfGeneration = Set<Int32>()
        if let eos = specialTokens.eos { endOfGeneration.insert(eos) }
        if let endOfTurn = specialTokens.endOfTurn { endOfGeneration.insert(endOfTurn) }
        for token in parts.addedTokens where token.special && Self.endOfGenerationTokens.contains(token.content) {
            endOfGeneration.insert(token.id)
        }

        self.preTokenizer = parts.preTokenizer
        self.specialTokens = specialTokens
        self.eosTokenIDs = endOfGeneration
        self.prefixTokenIDs = parts.prefix
        self.suffixTokenIDs = parts.suffix
        self.addedTokens = parts.addedTokens
        self.encoder = parts.encoder
        self.decodingRules = parts.decodingRules
        self.tokenStrings = strings
        self.idsByToken = parts.lookup ?? TokenTable(strings)
        self.specialFlags = flags
        self.byteFallbackFlags = byteFlags
        self.decodedBytes = bytes
        self.decodedOffsets = offsets
    }

    // MARK: - Vocabulary

    /// The number of token ids (valid ids are `0..<vocabularySize`).
    public var vocabularySize: Int { tokenStrings.count }

    /// The text of a token as stored in the vocabulary (byte-level spelling such as `"Ġthe"`, SentencePiece
    /// spelling such as `"▁the"` or `"<0x0A>"`), or the content of an added token; `nil` for an out-of-range id.
    public func tokenString(_ id: Int32) -> String? {
        guard id >= 0, Int(id) < tokenStrings.count else { return nil }
        return tokenStrings[Int(id)]
    }

    /// The id of a token given its stored text (see ``tokenString(_:)``).
    public func id(forToken token: String) -> Int32? {
        idsByToken.id(token)
    }

    /// The bytes a token decodes to (possibly an incomplete UTF-8 sequence); `nil` for an out-of-range id.
    public func tokenBytes(_ id: Int32) -> [UInt8]? {
        guard id >= 0, Int(id) < tokenStrings.count else { return nil }
        return Array(pieceBytes(id))
    }

    /// The bytes of a valid id.
    func pieceBytes(_ id: Int32) -> ArraySlice<UInt8> {
        decodedBytes[decodedOffsets[Int(id)]..<decodedOffsets[Int(id) + 1]]
    }

    /// Whether a valid id is a `<0xNN>` token for the `ByteFallback` decoder.
    func isByteFallbackToken(_ id: Int32) -> Bool {
        !byteFallbackFlags.isEmpty && byteFallbackFlags[Int(id)]
    }

    /// Whether the id is a special (control or unknown) token, which `decode(_:skipSpecial: true)` leaves out.
    public func isSpecial(_ id: Int32) -> Bool {
        guard id >= 0, Int(id) < specialFlags.count else { return false }
        return specialFlags[Int(id)]
    }

    // MARK: - Encoding

    /// Encodes text to token ids.
    /// - Parameters:
    ///   - parseSpecial: match special (control) tokens written in the text, such as `<|im_start|>`; when
    ///     false they are encoded as plain text (user-defined added tokens are always matched).
    ///   - addSpecialTokens: add ``prefixTokenIDs`` and ``suffixTokenIDs`` (the BOS/EOS the tokenizer is
    ///     configured to add; none for most chat models, whose templates write them).
    public func encode(_ text: String, parseSpecial: Bool = true, addSpecialTokens: Bool = true) -> [Int32] {
        var ids: [Int32] = addSpecialTokens ? prefixTokenIDs : []
        ids.reserveCapacity(ids.count + text.utf8.count / 3 + 4)
        var text = text
        text.withUTF8 { bytes in
            switch encoder {
            case let .huggingFace(encoder): encoder.encode(bytes, parseSpecial: parseSpecial, into: &ids)
            case let .sentencePiece(encoder): encoder.encode(bytes, parseSpecial: parseSpecial, into: &ids)
            }
        }
        if addSpecialTokens { ids.append(contentsOf: suffixTokenIDs) }
        return ids
    }

    // MARK: - Decoding

    /// Decodes token ids to text: the bytes of all tokens (`▁` as a space and `<0xNN>` as its byte for
    /// SentencePiece-style vocabularies), with each invalid UTF-8 sequence replaced by U+FFFD, and the
    /// leading-space rule of the tokenizer's reference: llama.cpp drops one leading space of the first token
    /// when it adds a space prefix (a BOS first keeps the space after it); a `tokenizer.json` decoder `Strip`
    /// drops leading spaces of the text, `Metaspace` the `▁` of the first token.
    /// - Parameter skipSpecial: leave out special (control) tokens.
    /// - Throws: ``TokenizationError/tokenIDOutOfRange(id:vocabularySize:)``.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) throws(TokenizationError) -> String {
        var state = DecodeState()
        var text = ""
        for id in ids { text += try decodeStep(id, skipSpecial: skipSpecial, state: &state) }
        return text + decodeFinish(state: &state)
    }
}

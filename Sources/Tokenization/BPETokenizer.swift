/// The ids of a vocabulary's special tokens (any may be absent), e.g. from `tokenizer.ggml.*_token_id`.
public struct SpecialTokenIDs: Sendable, Equatable {
    /// Beginning of sequence.
    public var bos: Int32?
    /// End of sequence; ends generation.
    public var eos: Int32?
    /// The unknown token (informational: byte-level BPE never needs it for GGUF vocabularies).
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

/// A byte-level BPE tokenizer of the GPT-2 family (GPT-2, SmolLM, Llama 3, Qwen 2, StarCoder, ...),
/// token-exact with Hugging Face `tokenizers`.
///
/// Encoding: added tokens (control and user-defined tokens) are matched first, leftmost-longest; the text
/// between them is split into words by the ``PreTokenizer``; each word's bytes are merged by BPE rank.
/// Immutable once built, so it can be shared between tasks.
public final class BPETokenizer: Sendable {
    /// The word-splitting rules.
    public let preTokenizer: PreTokenizer
    /// The ids of BOS, EOS, UNK and padding, as configured.
    public let specialTokens: SpecialTokenIDs
    /// Ids that end generation: EOS, the end-of-turn id, and the special tokens that end a turn
    /// (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, ... — the list llama.cpp uses).
    public let eosTokenIDs: Set<Int32>
    /// Ids `encode(_:addSpecialTokens: true)` puts before the text (BOS when the tokenizer adds it).
    public let prefixTokenIDs: [Int32]
    /// Ids `encode(_:addSpecialTokens: true)` puts after the text (EOS when the tokenizer adds it).
    public let suffixTokenIDs: [Int32]
    /// The added tokens (control and user-defined), matched verbatim before pre-tokenization.
    public let addedTokens: [AddedToken]

    let model: BytePairModel
    let normalizer: Normalizer
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let tokenStrings: [String]
    private let idsByToken: [String: Int32]
    private let specialFlags: [Bool]
    private let decodedBytes: [UInt8]
    private let decodedOffsets: [Int]

    /// Special tokens that end a turn (llama.cpp's end-of-generation list).
    private static let endOfGenerationTokens: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ]

    /// Builds a tokenizer from the vocabulary arrays of a GGUF file (`tokenizer.ggml.*`).
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
        guard tokens.count < Int32.max else {
            throw .invalidVocabulary("\(tokens.count) tokens do not fit 32-bit token ids")
        }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw .invalidVocabulary(
                "tokenizer.ggml.token_type has \(tokenTypes.count) entries but tokenizer.ggml.tokens has \(tokens.count)")
        }
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() { vocabulary[token] = Int32(id) }
        var pairs: [(Substring, Substring)] = []
        pairs.reserveCapacity(merges.count)
        for (index, merge) in merges.enumerated() {
            guard let space = merge.firstIndex(of: " ") else {
                throw .invalidVocabulary("merge #\(index) \"\(merge)\" is not two tokens separated by a space")
            }
            pairs.append((merge[..<space], merge[merge.index(after: space)...]))
        }
        var added: [AddedToken] = []
        for (id, type) in (tokenTypes ?? []).enumerated() {
            if type == GGUFTokenType.control.rawValue || type == GGUFTokenType.userDefined.rawValue {
                added.append(AddedToken(content: tokens[id], id: Int32(id), special: type == GGUFTokenType.control.rawValue))
            }
        }
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        if addBOS {
            guard let bos = specialTokens.bos else { throw .invalidVocabulary("addBOS is set but there is no BOS token id") }
            prefix = [bos]
        }
        if addEOS {
            guard let eos = specialTokens.eos else { throw .invalidVocabulary("addEOS is set but there is no EOS token id") }
            suffix = [eos]
        }
        try self.init(
            tokenStrings: tokens, modelVocabulary: vocabulary, merges: pairs, addedTokens: added,
            preTokenizer: preTokenizer, ignoreMerges: ignoreMerges, normalizer: .none, prefix: prefix, suffix: suffix,
            specialTokens: specialTokens, modelUnknownID: nil)
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

    /// The designated initializer shared by the GGUF and `tokenizer.json` paths.
    /// - Parameters:
    ///   - tokenStrings: the text of every id (vocabulary entry or added token content; "" for unused ids).
    ///   - modelVocabulary: the BPE model's vocabulary (byte-level spelling → id).
    ///   - modelUnknownID: the BPE model's `unk_token`, which stands for bytes without a one-byte token. GGUF
    ///     vocabularies have none: llama.cpp, like `tokenizers` without `unk_token`, drops such bytes.
    init(
        tokenStrings: [String], modelVocabulary: [String: Int32], merges: [(Substring, Substring)],
        addedTokens: [AddedToken], preTokenizer: PreTokenizer, ignoreMerges: Bool, normalizer: Normalizer,
        prefix: [Int32], suffix: [Int32], specialTokens: SpecialTokenIDs, modelUnknownID: Int32?
    ) throws(TokenizationError) {
        let size = tokenStrings.count
        func check(_ id: Int32?, _ what: String) throws(TokenizationError) {
            if let id, id < 0 || Int(id) >= size {
                throw .invalidVocabulary("the \(what) token id \(id) is outside the vocabulary of \(size) tokens")
            }
        }
        try check(specialTokens.bos, "BOS")
        try check(specialTokens.eos, "EOS")
        try check(specialTokens.unknown, "unknown")
        try check(specialTokens.padding, "padding")
        try check(specialTokens.endOfTurn, "end-of-turn")
        try check(modelUnknownID, "unk_token")
        for id in prefix + suffix { try check(id, "template") }
        for token in addedTokens { try check(token.id, "added \"\(token.content)\"") }

        var table = MergeTable(capacity: merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let leftID = modelVocabulary[String(left)], let rightID = modelVocabulary[String(right)],
                let mergedID = modelVocabulary[String(left) + String(right)]
            else {
                throw .invalidVocabulary(
                    "merge #\(rank) \"\(left) \(right)\" uses or produces a token that is not in the vocabulary")
            }
            table.insert(left: leftID, right: rightID, rank: UInt32(rank), merged: mergedID)
        }
        var wholeWords: [[UInt8]: Int32]? = nil
        if ignoreMerges {
            var words: [[UInt8]: Int32] = [:]
            words.reserveCapacity(modelVocabulary.count)
            for (token, id) in modelVocabulary {
                if let bytes = ByteLevel.strictDecode(token) { words[bytes] = id }
            }
            wholeWords = words
        }
        let symbolForByte = ByteLevel.scalarForByte.map { scalar in
            modelVocabulary[String(Character(Unicode.Scalar(scalar) ?? "?"))] ?? -1
        }
        model = BytePairModel(
            symbolForByte: symbolForByte, merges: table, wholeWords: wholeWords, unknownID: modelUnknownID)

        var strings = tokenStrings
        var flags = [Bool](repeating: false, count: size)
        for token in addedTokens {
            strings[Int(token.id)] = token.content
            if token.special { flags[Int(token.id)] = true }
        }
        var ids: [String: Int32] = modelVocabulary
        for token in addedTokens { ids[token.content] = token.id }
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(size + 1)
        for string in strings {
            bytes.append(contentsOf: ByteLevel.decode(string))
            offsets.append(bytes.count)
        }
        var endOfGeneration = Set<Int32>()
        if let eos = specialTokens.eos { endOfGeneration.insert(eos) }
        if let endOfTurn = specialTokens.endOfTurn { endOfGeneration.insert(endOfTurn) }
        for token in addedTokens where token.special && Self.endOfGenerationTokens.contains(token.content) {
            endOfGeneration.insert(token.id)
        }

        self.preTokenizer = preTokenizer
        self.specialTokens = specialTokens
        self.eosTokenIDs = endOfGeneration
        self.prefixTokenIDs = prefix
        self.suffixTokenIDs = suffix
        self.addedTokens = addedTokens
        self.normalizer = normalizer
        self.rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        self.normalizedMatcher = AddedTokenMatcher(addedTokens.filter { $0.normalized })
        self.tokenStrings = strings
        self.idsByToken = ids
        self.specialFlags = flags
        self.decodedBytes = bytes
        self.decodedOffsets = offsets
    }

    // MARK: - Vocabulary

    /// The number of token ids (valid ids are `0..<vocabularySize`).
    public var vocabularySize: Int { tokenStrings.count }

    /// The text of a token as stored in the vocabulary (byte-level spelling, e.g. `"Ġthe"`), or the content
    /// of an added token; `nil` for an out-of-range id.
    public func tokenString(_ id: Int32) -> String? {
        guard id >= 0, Int(id) < tokenStrings.count else { return nil }
        return tokenStrings[Int(id)]
    }

    /// The id of a token given its stored text (see ``tokenString(_:)``).
    public func id(forToken token: String) -> Int32? {
        idsByToken[token]
    }

    /// The bytes a token decodes to (possibly an incomplete UTF-8 sequence); `nil` for an out-of-range id.
    public func tokenBytes(_ id: Int32) -> [UInt8]? {
        guard id >= 0, Int(id) < tokenStrings.count else { return nil }
        return Array(decodedBytes[decodedOffsets[Int(id)]..<decodedOffsets[Int(id) + 1]])
    }

    /// Whether the id is a special (control) token, which `decode(_:skipSpecial: true)` leaves out.
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
        var scratch = MergeScratch()
        var scalars = ScalarBuffer()
        var text = text
        text.withUTF8 { bytes in
            rawMatcher.split(bytes, range: 0..<bytes.count, parseSpecial: parseSpecial) { segment in
                switch segment {
                case let .token(id):
                    ids.append(id)
                case let .text(range):
                    encodeUnmatched(
                        bytes, range: range, parseSpecial: parseSpecial, scalars: &scalars, scratch: &scratch,
                        into: &ids)
                }
            }
        }
        if addSpecialTokens { ids.append(contentsOf: suffixTokenIDs) }
        return ids
    }

    /// Normalizes text between raw added tokens, matches the normalized added tokens, encodes the rest.
    private func encodeUnmatched(
        _ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, parseSpecial: Bool, scalars: inout ScalarBuffer,
        scratch: inout MergeScratch, into ids: inout [Int32]
    ) {
        func encodeNormalized(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
            normalizedMatcher.split(bytes, range: range, parseSpecial: parseSpecial) { segment in
                switch segment {
                case let .token(id):
                    ids.append(id)
                case let .text(range):
                    preTokenizer.forEachWord(in: bytes, range: range, buffer: &scalars) { word in
                        model.encodeWord(bytes, range: word, scratch: &scratch, into: &ids)
                    }
                }
            }
        }
        guard var normalized = normalizer.apply(to: bytes, range: range) else {
            encodeNormalized(bytes, range)
            return
        }
        normalized.withUTF8 { normalizedBytes in encodeNormalized(normalizedBytes, 0..<normalizedBytes.count) }
    }

    // MARK: - Decoding

    /// Decodes token ids to text as the `ByteLevel` decoder of `tokenizers` does: the bytes of all tokens,
    /// with each invalid UTF-8 sequence replaced by U+FFFD.
    /// - Parameter skipSpecial: leave out special (control) tokens.
    /// - Throws: ``TokenizationError/tokenIDOutOfRange(id:vocabularySize:)``.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) throws(TokenizationError) -> String {
        var bytes: [UInt8] = []
        for id in ids { try appendBytes(of: id, skipSpecial: skipSpecial, to: &bytes) }
        var repair = UTF8Repair()
        return repair.append(bytes) + repair.finish()
    }

    /// Appends the bytes of one token (nothing for a skipped special token).
    func appendBytes(of id: Int32, skipSpecial: Bool, to bytes: inout [UInt8]) throws(TokenizationError) {
        guard id >= 0, Int(id) < tokenStrings.count else {
            throw .tokenIDOutOfRange(id: id, vocabularySize: tokenStrings.count)
        }
        if skipSpecial, specialFlags[Int(id)] { return }
        bytes.append(contentsOf: decodedBytes[decodedOffsets[Int(id)]..<decodedOffsets[Int(id) + 1]])
    }
}

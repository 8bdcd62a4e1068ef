import Foundation

extension BPETokenizer {
    /// Builds a tokenizer from a Hugging Face `tokenizer.json` with a `BPE` model, token-exact with `tokenizers`.
    ///
    /// Two families are supported:
    /// - byte-level BPE: pre-tokenizer `ByteLevel` (GPT-2 regex), `Sequence[Digits(individual_digits), ByteLevel]`
    ///   (SmolLM), or `Sequence[Split(regex), ByteLevel(use_regex: false)]` with the GPT-2, Llama 3 or Qwen 2
    ///   regex; normalizer none or `NFC`; decoder `ByteLevel`;
    /// - SentencePiece-style BPE (Llama 2, Gemma): model with `byte_fallback`, `fuse_unk`, `unk_token`;
    ///   pre-tokenizer none or `Metaspace`; normalizer a `Sequence` of `Prepend`, `Replace` (literal strings)
    ///   and `NFC`; decoder a `Sequence` of `Replace("▁", " ")`, `ByteFallback`, `Fuse`, `Strip(" ", n, 0)`,
    ///   `Metaspace`.
    ///
    /// Both: merges as `"a b"` strings or `["a", "b"]` pairs, `ignore_merges`; `added_tokens` with their
    /// `special`, `normalized`, `lstrip`, `rstrip`, `single_word` flags; post-processor none, `ByteLevel`,
    /// `TemplateProcessing` (e.g. BOS), or a `Sequence` of those.
    ///
    /// - Parameter specialTokens: BOS/EOS/UNK/padding/end-of-turn ids (they live in `tokenizer_config.json`, not here).
    /// - Throws: ``TokenizationError/malformedTokenizerJSON(path:reason:)`` or
    ///   ``TokenizationError/unsupportedTokenizerConfiguration(path:found:supported:)``.
    public convenience init(tokenizerJSON data: Data, specialTokens: SpecialTokenIDs = SpecialTokenIDs()) throws(TokenizationError) {
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TokenizationError.malformedTokenizerJSON(path: "$", reason: "the top level is not a JSON object")
            }
            root = object
        } catch let error as TokenizationError {
            throw error
        } catch {
            throw .malformedTokenizerJSON(path: "$", reason: "not valid JSON (\(error.localizedDescription))")
        }
        let parsed = try TokenizerJSONParser.parse(root, exact: JSONVocabularyScanner.model(in: data))
        var ids = specialTokens
        ids.unknown = ids.unknown ?? parsed.unknownID
        let model: BytePairModel
        let piece: (Int, String) -> [UInt8]
        var byteIDs: [Int32] = []
        var preTokenizer: PreTokenizer? = nil
        let words: WordSplitter
        switch parsed.family {
        case let .byteLevel(pattern):
            model = try BytePairModel(
                byteLevelVocabulary: parsed.vocabulary, merges: parsed.merges, ignoreMerges: parsed.ignoreMerges,
                unknownID: parsed.unknownID)
            piece = { _, text in ByteLevel.decode(text) }
            preTokenizer = pattern
            words = .pattern(pattern)
        case let .sentencePiece(splitter, decoder):
            model = try BytePairModel(
                characterVocabulary: parsed.modelTokens, merges: parsed.merges,
                ignoreMerges: parsed.ignoreMerges, byteFallback: parsed.byteFallback, fuseUnknown: parsed.fuseUnknown,
                unknownID: parsed.unknownID)
            if decoder.byteFallback {
                byteIDs = parsed.tokenStrings.indices.filter { byteTokenValue(parsed.tokenStrings[$0]) != nil }.map(Int32.init)
            }
            piece = { _, text in decoder.piece(text) }
            words = splitter
        }
        let encoder = HuggingFaceEncoder(
            rawMatcher: AddedTokenMatcher(parsed.addedTokens.filter { !$0.normalized }),
            normalizedMatcher: AddedTokenMatcher(parsed.addedTokens.filter { $0.normalized }),
            normalizer: parsed.normalizer, words: words, model: model)
        try self.init(
            Parts(
                tokenStrings: parsed.tokenStrings, addedTokens: parsed.addedTokens,
                encoder: .huggingFace(encoder), piece: piece, decodingRules: parsed.decodingRules,
                byteFallbackIDs: byteIDs, preTokenizer: preTokenizer, prefix: parsed.prefix, suffix: parsed.suffix,
                specialTokens: ids, otherIDs: [(parsed.unknownID, "unk_token")]))
    }
}

/// Reads the parts of a `tokenizer.json` that a BPE tokenizer needs.
struct TokenizerJSONParser {
    /// Byte-level BPE with its pre-tokenizer, or character BPE with its word splitting and decoder.
    enum Family {
        case byteLevel(PreTokenizer)
        case sentencePiece(WordSplitter, SentencePieceDecoder)
    }

    var tokenStrings: [String] = []
    var vocabulary: [String: Int32] = [:]
    /// The model's vocabulary by id with exact scalars ("" for ids it does not define).
    var modelTokens: [String] = []
    var merges: [(Substring, Substring)] = []
    var addedTokens: [AddedToken] = []
    var family = Family.byteLevel(.gpt2)
    var decodingRules = DecodingRules()
    var ignoreMerges = false
    var byteFallback = false
    var fuseUnknown = false
    var normalizer = Normalizer.none
    var prefix: [Int32] = []
    var suffix: [Int32] = []
    var unknownID: Int32?

    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let splitRegexes: [String: PreTokenizer] = [gpt2Regex: .gpt2, llama3Regex: .llama3, qwen2Regex: .qwen2]
    static let supportedPreTokenizers =
        "ByteLevel(add_prefix_space: false, use_regex: true); Sequence[Digits(individual_digits: true), ByteLevel(add_prefix_space: false)]; "
        + "Sequence[Split(Regex: GPT-2, Llama 3 or Qwen 2 pattern, Isolated), ByteLevel(add_prefix_space: false, use_regex: false)]; "
        + "null or Metaspace (SentencePiece-style BPE)"

    /// - Parameter exact: `$.model.vocab` and `$.model.merges` as ``JSONVocabularyScanner`` reads them.
    static func parse(_ root: [String: Any], exact: JSONVocabularyScanner.Model) throws(TokenizationError) -> TokenizerJSONParser {
        var parser = TokenizerJSONParser()
        let model = try jsonObject(root["model"], "$.model")
        try parser.parseModel(model, exactMerges: exact.merges)
        try parser.parseAddedTokens(root["added_tokens"])
        try parser.parseNormalizer(root["normalizer"])
        if let preTokenizer = try parseByteLevelPreTokenizer(root["pre_tokenizer"]) {
            guard !parser.byteFallback else {
                throw .unsupportedTokenizerConfiguration(
                    path: "$.model.byte_fallback", found: "true", supported: "false with a ByteLevel pre-tokenizer")
            }
            try parseByteLevelDecoder(root["decoder"])
            parser.family = .byteLevel(preTokenizer)
        } else {
            let words = try parseSentencePiecePreTokenizer(root["pre_tokenizer"])
            let decoder = try SentencePieceDecoder(root["decoder"], rules: &parser.decodingRules)
            parser.family = .sentencePiece(words, decoder)
        }
        try parser.parsePostProcessor(root["post_processor"], path: "$.post_processor")
        try parser.buildTokenStrings(exactVocabulary: exact.vocabulary)
        return parser
    }

    // MARK: Model

    private mutating func parseModel(_ model: [String: Any], exactMerges: [[String]]?) throws(TokenizationError) {
        if let type = model["type"] {
            let type = try jsonString(type, "$.model.type")
            guard type == "BPE" else {
                throw .unsupportedTokenizerConfiguration(path: "$.model.type", found: type, supported: "BPE")
            }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key], !(value is NSNull), try jsonString(value, "$.model.\(key)") != "" {
                throw .unsupportedTokenizerConfiguration(
                    path: "$.model.\(key)", found: "\(value)", supported: "null (no subword affixes)")
            }
        }
        if let dropout = model["dropout"], !(dropout is NSNull), try jsonNumber(dropout, "$.model.dropout") != 0 {
            throw .unsupportedTokenizerConfiguration(path: "$.model.dropout", found: "\(dropout)", supported: "null")
        }
        if let fallback = model["byte_fallback"] { byteFallback = try jsonBool(fallback, "$.model.byte_fallback") }
        if let fuse = model["fuse_unk"] { fuseUnknown = try jsonBool(fuse, "$.model.fuse_unk") }
        if let ignore = model["ignore_merges"] { ignoreMerges = try jsonBool(ignore, "$.model.ignore_merges") }

        let vocab = try jsonObject(model["vocab"], "$.model.vocab")
        vocabulary.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            vocabulary[token] = try jsonTokenID(value, "$.model.vocab[\"\(token)\"]")
        }
        var list = try jsonArray(model["merges"], "$.model.merges")
        if let exactMerges, exactMerges.count == list.count {
            list = exactMerges.map { $0.count == 1 ? $0[0] as Any : $0 as Any }
        }
        merges.reserveCapacity(list.count)
        for (index, entry) in list.enumerated() {
            let path = "$.model.merges[\(index)]"
            if let line = entry as? String {
                guard let space = line.firstIndex(of: " ") else {
                    throw .malformedTokenizerJSON(path: path, reason: "\"\(line)\" is not two tokens separated by a space")
                }
                merges.append((line[..<space], line[line.index(after: space)...]))
            } else if let pair = entry as? [Any], pair.count == 2, let left = pair[0] as? String, let right = pair[1] as? String {
                merges.append((Substring(left), Substring(right)))
            } else {
                throw .malformedTokenizerJSON(path: path, reason: "expected \"a b\" or [\"a\", \"b\"]")
            }
        }
        if let unknown = model["unk_token"], !(unknown is NSNull) {
            let token = try jsonString(unknown, "$.model.unk_token")
            guard let id = vocabulary[token] else {
                throw .malformedTokenizerJSON(path: "$.model.unk_token", reason: "\"\(token)\" is not in the vocabulary")
            }
            unknownID = id
        }
    }

    private mutating func parseAddedTokens(_ value: Any?) throws(TokenizationError) {
        guard let value, !(value is NSNull) else { return }
        for (index, entry) in try jsonArray(value, "$.added_tokens").enumerated() {
            let path = "$.added_tokens[\(index)]"
            let token = try jsonObject(entry, path)
            func flag(_ key: String, default fallback: Bool) throws(TokenizationError) -> Bool {
                guard let value = token[key] else { return fallback }
                return try jsonBool(value, "\(path).\(key)")
            }
            let special = try flag("special", default: false)
            addedTokens.append(
                AddedToken(
                    content: try jsonString(token["content"], "\(path).content"), id: try jsonTokenID(token["id"], "\(path).id"),
                    special: special, lstrip: try flag("lstrip", default: false), rstrip: try flag("rstrip", default: false),
                    singleWord: try flag("single_word", default: false),
                    normalized: try flag("normalized", default: !special)))
        }
    }

    private mutating func parseNormalizer(_ value: Any?) throws(TokenizationError) {
        guard let value, !(value is NSNull) else { return }
        let path = "$.normalizer"
        let normalizer = try jsonObject(value, path)
        let type = try jsonString(normalizer["type"], "\(path).type")
        let steps = type == "Sequence" ? try jsonArray(normalizer["normalizers"], "\(path).normalizers") : [normalizer]
        for (index, step) in steps.enumerated() {
            let stepPath = type == "Sequence" ? "\(path).normalizers[\(index)]" : path
            let step = try jsonObject(step, stepPath)
            let name = try jsonString(step["type"], "\(stepPath).type")
            switch name {
            case "NFC":
                self.normalizer.steps.append(.nfc)
            case "Prepend":
                self.normalizer.steps.append(.prepend(try jsonString(step["prepend"], "\(stepPath).prepend")))
            case "Replace":
                let (pattern, content) = try parseReplace(step, stepPath)
                self.normalizer.steps.append(.replace(pattern, content))
            default:
                throw .unsupportedTokenizerConfiguration(
                    path: stepPath, found: name, supported: "null, NFC, Prepend, Replace (a literal String), or a Sequence of those")
            }
        }
    }

    private mutating func buildTokenStrings(exactVocabulary: [(String, Int)]?) throws(TokenizationError) {
        let entries = vocabulary.count + addedTokens.count
        let maxID = max(vocabulary.values.max() ?? -1, addedTokens.map(\.id).max() ?? -1)
        guard Int(maxID) < 2 * entries + 65_536 else {
            throw .malformedTokenizerJSON(
                path: "$.model.vocab", reason: "token id \(maxID) is far beyond the \(entries) tokens defined")
        }
        modelTokens = [String](repeating: "", count: Int(maxID) + 1)
        if let exactVocabulary, exactVocabulary.allSatisfy({ $0.1 <= Int(maxID) }) {
            for (token, id) in exactVocabulary { modelTokens[id] = token }
        } else {
            for (token, id) in vocabulary { modelTokens[Int(id)] = token }
        }
        tokenStrings = modelTokens
        for token in addedTokens { tokenStrings[Int(token.id)] = token.content }
    }

    // MARK: Pipeline components

    /// The pattern of a byte-level pre-tokenizer, or `nil` when there is none or it is not byte-level
    /// (then it is read as a SentencePiece-style one).
    private static func parseByteLevelPreTokenizer(_ value: Any?) throws(TokenizationError) -> PreTokenizer? {
        let path = "$.pre_tokenizer"
        func unsupported(_ found: String) -> TokenizationError {
            .unsupportedTokenizerConfiguration(path: path, found: found, supported: supportedPreTokenizers)
        }
        guard let value, !(value is NSNull) else { return nil }
        let root = try jsonObject(value, path)
        let type = try jsonString(root["type"], "\(path).type")
        if type == "Metaspace" { return nil }
        /// Whether `step` is `ByteLevel` without a prefix space and with the given `use_regex`.
        func byteLevel(_ step: [String: Any], useRegex: Bool) throws(TokenizationError) -> Bool {
            guard step["type"] as? String == "ByteLevel" else { return false }
            if let prefix = step["add_prefix_space"], try jsonBool(prefix, "\(path).add_prefix_space") {
                throw unsupported("ByteLevel(add_prefix_space: true)")
            }
            var regex = true
            if let value = step["use_regex"] { regex = try jsonBool(value, "\(path).use_regex") }
            return regex == useRegex
        }
        if type == "ByteLevel" {
            guard try byteLevel(root, useRegex: true) else { throw unsupported("ByteLevel(use_regex: false) alone") }
            return .gpt2
        }
        guard type == "Sequence" else { throw unsupported(type) }
        let steps = try jsonArray(root["pretokenizers"], "\(path).pretokenizers").map { step throws(TokenizationError) in
            try jsonObject(step, "\(path).pretokenizers[]")
        }
        let names = steps.map { $0["type"] as? String ?? "?" }
        let description = "Sequence[\(names.joined(separator: ", "))]"
        guard steps.count == 2 else { throw unsupported(description) }
        if names[0] == "Digits" {
            guard steps[0]["individual_digits"] as? Bool == true else { throw unsupported("Digits(individual_digits: false)") }
            guard try byteLevel(steps[1], useRegex: true) else { throw unsupported(description) }
            return .smollm
        }
        if names[0] == "Split" {
            let split = steps[0]
            let pattern = (split["pattern"] as? [String: Any])?["Regex"] as? String
            guard let pattern, let preTokenizer = splitRegexes[pattern] else {
                throw unsupported("Split with the pattern \(pattern ?? "(none)"), which is not a known GPT-2, Llama 3 or Qwen 2 regex")
            }
            let behavior = split["behavior"] as? String ?? "?"
            let inverted = split["invert"] as? Bool ?? false
            guard behavior == "Isolated", !inverted else {
                throw unsupported("Split(behavior: \(behavior), invert: \(inverted))")
            }
            guard try byteLevel(steps[1], useRegex: false) else { throw unsupported(description + " (ByteLevel must not use its regex)") }
            return preTokenizer
        }
        throw unsupported(description)
    }

    private static func parseByteLevelDecoder(_ value: Any?) throws(TokenizationError) {
        let path = "$.decoder"
        guard let value, !(value is NSNull) else {
            throw .unsupportedTokenizerConfiguration(path: path, found: "null", supported: "ByteLevel")
        }
        let decoder = try jsonObject(value, path)
        let type = try jsonString(decoder["type"], "\(path).type")
        let steps = type == "Sequence" ? try jsonArray(decoder["decoders"], "\(path).decoders") : [decoder]
        let names = steps.map { ($0 as? [String: Any])?["type"] as? String ?? "?" }
        guard names == ["ByteLevel"] else {
            throw .unsupportedTokenizerConfiguration(path: path, found: names.joined(separator: ", "), supported: "ByteLevel")
        }
    }

    private mutating func parsePostProcessor(_ value: Any?, path: String) throws(TokenizationError) {
        guard let value, !(value is NSNull) else { return }
        let processor = try jsonObject(value, path)
        let type = try jsonString(processor["type"], "\(path).type")
        switch type {
        case "ByteLevel":
            return  // only adjusts offsets
        case "Sequence":
            for (index, step) in try jsonArray(processor["processors"], "\(path).processors").enumerated() {
                try parsePostProcessor(step, path: "\(path).processors[\(index)]")
            }
        case "TemplateProcessing":
            try parseTemplate(processor, path: path)
        default:
            throw .unsupportedTokenizerConfiguration(
                path: path, found: type, supported: "null, ByteLevel, TemplateProcessing, Sequence of those")
        }
    }

    private mutating func parseTemplate(_ processor: [String: Any], path: String) throws(TokenizationError) {
        let specials = try jsonObject(processor["special_tokens"] ?? [String: Any](), "\(path).special_tokens")
        var sawSequence = false
        for (index, item) in try jsonArray(processor["single"], "\(path).single").enumerated() {
            let itemPath = "\(path).single[\(index)]"
            let entry = try jsonObject(item, itemPath)
            if let sequence = entry["Sequence"] as? [String: Any] {
                guard sequence["id"] as? String == "A", !sawSequence else {
                    throw .unsupportedTokenizerConfiguration(path: itemPath, found: "\(sequence)", supported: "one $A")
                }
                sawSequence = true
            } else if let special = entry["SpecialToken"] as? [String: Any] {
                let name = try jsonString(special["id"], "\(itemPath).SpecialToken.id")
                let definition = try jsonObject(specials[name], "\(path).special_tokens[\"\(name)\"]")
                var ids: [Int32] = []
                for (position, id) in try jsonArray(definition["ids"], "\(path).special_tokens[\"\(name)\"].ids").enumerated() {
                    ids.append(try jsonTokenID(id, "\(path).special_tokens[\"\(name)\"].ids[\(position)]"))
                }
                if sawSequence { suffix += ids } else { prefix += ids }
            } else {
                throw .malformedTokenizerJSON(path: itemPath, reason: "expected a SpecialToken or Sequence item")
            }
        }
    }
}

// MARK: - Typed access to JSONSerialization values

func jsonObject(_ value: Any?, _ path: String) throws(TokenizationError) -> [String: Any] {
    guard let object = value as? [String: Any] else { throw .malformedTokenizerJSON(path: path, reason: "expected an object") }
    return object
}

func jsonArray(_ value: Any?, _ path: String) throws(TokenizationError) -> [Any] {
    guard let array = value as? [Any] else { throw .malformedTokenizerJSON(path: path, reason: "expected an array") }
    return array
}

func jsonString(_ value: Any?, _ path: String) throws(TokenizationError) -> String {
    guard let string = value as? String else { throw .malformedTokenizerJSON(path: path, reason: "expected a string") }
    return string
}

func jsonBool(_ value: Any?, _ path: String) throws(TokenizationError) -> Bool {
    guard let bool = value as? Bool else { throw .malformedTokenizerJSON(path: path, reason: "expected true or false") }
    return bool
}

func jsonNumber(_ value: Any?, _ path: String) throws(TokenizationError) -> Double {
    guard let number = value as? Double else { throw .malformedTokenizerJSON(path: path, reason: "expected a number") }
    return number
}

func jsonTokenID(_ value: Any?, _ path: String) throws(TokenizationError) -> Int32 {
    guard let number = value as? Int, number >= 0, number < Int(Int32.max) else {
        throw .malformedTokenizerJSON(path: path, reason: "expected a token id (an integer from 0 to 2^31-2)")
    }
    return Int32(number)
}

import Foundation

extension BPETokenizer {
    /// Builds a tokenizer from a Hugging Face `tokenizer.json` of a byte-level BPE model.
    ///
    /// Supported: model `BPE` (merges as `"a b"` strings or `["a", "b"]` pairs, `ignore_merges`,
    /// `unk_token`); `added_tokens` with their `special`, `normalized`, `lstrip`, `rstrip`, `single_word`
    /// flags; normalizer none or `NFC`; pre-tokenizer `ByteLevel` (GPT-2 regex),
    /// `Sequence[Digits(individual_digits), ByteLevel]` (SmolLM), or `Sequence[Split(regex), ByteLevel(use_regex:
    /// false)]` with the GPT-2, Llama 3 or Qwen 2 regex; decoder `ByteLevel`; post-processor none, `ByteLevel`,
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
        let parsed = try TokenizerJSONParser.parse(root)
        var ids = specialTokens
        ids.unknown = ids.unknown ?? parsed.unknownID
        try self.init(
            tokenStrings: parsed.tokenStrings, modelVocabulary: parsed.vocabulary, merges: parsed.merges,
            addedTokens: parsed.addedTokens, preTokenizer: parsed.preTokenizer, ignoreMerges: parsed.ignoreMerges,
            normalizer: parsed.normalizer, prefix: parsed.prefix, suffix: parsed.suffix,
            specialTokens: ids,
            modelUnknownID: parsed.unknownID)
    }
}

/// Reads the parts of a `tokenizer.json` that a byte-level BPE tokenizer needs.
private struct TokenizerJSONParser {
    var tokenStrings: [String] = []
    var vocabulary: [String: Int32] = [:]
    var merges: [(Substring, Substring)] = []
    var addedTokens: [AddedToken] = []
    var preTokenizer = PreTokenizer.gpt2
    var ignoreMerges = false
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
        + "Sequence[Split(Regex: GPT-2, Llama 3 or Qwen 2 pattern, Isolated), ByteLevel(add_prefix_space: false, use_regex: false)]"

    static func parse(_ root: [String: Any]) throws(TokenizationError) -> TokenizerJSONParser {
        var parser = TokenizerJSONParser()
        let model = try jsonObject(root["model"], "$.model")
        try parser.parseModel(model)
        try parser.parseAddedTokens(root["added_tokens"])
        try parser.parseNormalizer(root["normalizer"])
        parser.preTokenizer = try parsePreTokenizer(root["pre_tokenizer"])
        try parseDecoder(root["decoder"])
        try parser.parsePostProcessor(root["post_processor"], path: "$.post_processor")
        try parser.buildTokenStrings()
        return parser
    }

    // MARK: Model

    private mutating func parseModel(_ model: [String: Any]) throws(TokenizationError) {
        if let type = model["type"] {
            let type = try jsonString(type, "$.model.type")
            guard type == "BPE" else {
                throw .unsupportedTokenizerConfiguration(path: "$.model.type", found: type, supported: "BPE")
            }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key], !(value is NSNull), try jsonString(value, "$.model.\(key)") != "" {
                throw .unsupportedTokenizerConfiguration(
                    path: "$.model.\(key)", found: "\(value)", supported: "null (byte-level BPE has no affixes)")
            }
        }
        if let dropout = model["dropout"], !(dropout is NSNull), try jsonNumber(dropout, "$.model.dropout") != 0 {
            throw .unsupportedTokenizerConfiguration(path: "$.model.dropout", found: "\(dropout)", supported: "null")
        }
        if let fallback = model["byte_fallback"], try jsonBool(fallback, "$.model.byte_fallback") {
            throw .unsupportedTokenizerConfiguration(
                path: "$.model.byte_fallback", found: "true", supported: "false (byte-level BPE)")
        }
        if let ignore = model["ignore_merges"] { ignoreMerges = try jsonBool(ignore, "$.model.ignore_merges") }

        let vocab = try jsonObject(model["vocab"], "$.model.vocab")
        vocabulary.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            vocabulary[token] = try jsonTokenID(value, "$.model.vocab[\"\(token)\"]")
        }
        let list = try jsonArray(model["merges"], "$.model.merges")
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
        let normalizer = try jsonObject(value, "$.normalizer")
        let type = try jsonString(normalizer["type"], "$.normalizer.type")
        let types = type == "Sequence"
            ? try jsonArray(normalizer["normalizers"], "$.normalizer.normalizers").map { ($0 as? [String: Any])?["type"] as? String ?? "?" }
            : [type]
        switch types {
        case []:
            return
        case ["NFC"]:
            self.normalizer = .nfc
        default:
            throw .unsupportedTokenizerConfiguration(
                path: "$.normalizer", found: type == "Sequence" ? "Sequence[\(types.joined(separator: ", "))]" : type,
                supported: "null, NFC (alone or as the only step of a Sequence)")
        }
    }

    private mutating func buildTokenStrings() throws(TokenizationError) {
        let entries = vocabulary.count + addedTokens.count
        let maxID = max(vocabulary.values.max() ?? -1, addedTokens.map(\.id).max() ?? -1)
        guard Int(maxID) < 2 * entries + 65_536 else {
            throw .malformedTokenizerJSON(
                path: "$.model.vocab", reason: "token id \(maxID) is far beyond the \(entries) tokens defined")
        }
        tokenStrings = [String](repeating: "", count: Int(maxID) + 1)
        for (token, id) in vocabulary { tokenStrings[Int(id)] = token }
        for token in addedTokens { tokenStrings[Int(token.id)] = token.content }
    }

    // MARK: Pipeline components

    private static func parsePreTokenizer(_ value: Any?) throws(TokenizationError) -> PreTokenizer {
        let path = "$.pre_tokenizer"
        func unsupported(_ found: String) -> TokenizationError {
            .unsupportedTokenizerConfiguration(path: path, found: found, supported: supportedPreTokenizers)
        }
        guard let value, !(value is NSNull) else { throw unsupported("null") }
        let root = try jsonObject(value, path)
        let type = try jsonString(root["type"], "\(path).type")
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

    private static func parseDecoder(_ value: Any?) throws(TokenizationError) {
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

private func jsonObject(_ value: Any?, _ path: String) throws(TokenizationError) -> [String: Any] {
    guard let object = value as? [String: Any] else { throw .malformedTokenizerJSON(path: path, reason: "expected an object") }
    return object
}

private func jsonArray(_ value: Any?, _ path: String) throws(TokenizationError) -> [Any] {
    guard let array = value as? [Any] else { throw .malformedTokenizerJSON(path: path, reason: "expected an array") }
    return array
}

private func jsonString(_ value: Any?, _ path: String) throws(TokenizationError) -> String {
    guard let string = value as? String else { throw .malformedTokenizerJSON(path: path, reason: "expected a string") }
    return string
}

private func jsonBool(_ value: Any?, _ path: String) throws(TokenizationError) -> Bool {
    guard let bool = value as? Bool else { throw .malformedTokenizerJSON(path: path, reason: "expected true or false") }
    return bool
}

private func jsonNumber(_ value: Any?, _ path: String) throws(TokenizationError) -> Double {
    guard let number = value as? Double else { throw .malformedTokenizerJSON(path: path, reason: "expected a number") }
    return number
}

private func jsonTokenID(_ value: Any?, _ path: String) throws(TokenizationError) -> Int32 {
    guard let number = value as? Int, number >= 0, number < Int(Int32.max) else {
        throw .malformedTokenizerJSON(path: path, reason: "expected a token id (an integer from 0 to 2^31-2)")
    }
    return Int32(number)
}

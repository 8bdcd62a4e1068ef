import Tokenization

extension GGUFFile {
    /// The tokenizer models (`tokenizer.ggml.model`) Brigade reads.
    static let supportedTokenizerModels = [
        "gpt2 (byte-level BPE)", "llama (SentencePiece: Llama 2, Mistral, Phi-3, Gemma)",
    ]

    /// The tokenizer described by `tokenizer.ggml.*` metadata, built as llama.cpp builds it.
    public func tokenizer() throws(ModelFileError) -> BPETokenizer {
        func strings(_ key: String) throws(ModelFileError) -> [String] {
            guard let values = metadata[key]?.array else {
                throw ModelFileError(file: path, location: "key \(key)", problem: "missing (the file has no tokenizer)")
            }
            var result: [String] = []
            result.reserveCapacity(values.count)
            for value in values {
                guard let s = value.string else { throw ModelFileError(file: path, location: "key \(key)", problem: "expected strings") }
                result.append(s)
            }
            return result
        }
        func id(_ key: String) throws(ModelFileError) -> Int32? {
            guard let value = metadata[key] else { return nil }
            guard let int = value.int, let id = Int32(exactly: int), id >= 0 else {
                throw ModelFileError(file: path, location: "key \(key)", problem: "expected a token id (0...\(Int32.max)), found \(value)")
            }
            return id
        }
        func flag(_ key: String) -> Bool? { metadata[key]?.bool }
        let model = metadata["tokenizer.ggml.model"]?.string ?? "gpt2"
        let types = metadata["tokenizer.ggml.token_type"]?.array?.compactMap { $0.int.map { Int32(clamping: $0) } }
        var specialTokens = SpecialTokenIDs(bos: try id("tokenizer.ggml.bos_token_id"), eos: try id("tokenizer.ggml.eos_token_id"),
                                            unknown: try id("tokenizer.ggml.unknown_token_id"),
                                            padding: try id("tokenizer.ggml.padding_token_id"),
                                            endOfTurn: try id("tokenizer.ggml.eot_token_id"))
        do {
            switch model {
            case "gpt2":
                return try BPETokenizer(
                    tokens: try strings("tokenizer.ggml.tokens"), merges: try strings("tokenizer.ggml.merges"), tokenTypes: types,
                    ggufPreTokenizer: metadata["tokenizer.ggml.pre"]?.string ?? "default",
                    specialTokens: specialTokens,
                    addBOS: flag("tokenizer.ggml.add_bos_token"), addEOS: flag("tokenizer.ggml.add_eos_token"))
            case "llama":
                let tokens = try strings("tokenizer.ggml.tokens")
                // llama.cpp's defaults for SentencePiece vocabularies when the ids are not in the file.
                func orDefault(_ id: Int32?, _ fallback: Int32) -> Int32? {
                    id ?? (Int(fallback) < tokens.count ? fallback : nil)
                }
                specialTokens.bos = orDefault(specialTokens.bos, 1)
                specialTokens.eos = orDefault(specialTokens.eos, 2)
                specialTokens.unknown = orDefault(specialTokens.unknown, 0)
                var scores: [Float]? = nil
                if let values = metadata["tokenizer.ggml.scores"]?.array {
                    scores = values.map { Float($0.double ?? $0.int.map(Double.init) ?? 0) }
                }
                return try BPETokenizer(
                    sentencePieceTokens: tokens, scores: scores, tokenTypes: types, specialTokens: specialTokens,
                    addBOS: flag("tokenizer.ggml.add_bos_token"), addEOS: flag("tokenizer.ggml.add_eos_token"),
                    addSpacePrefix: flag("tokenizer.ggml.add_space_prefix"))
            default:
                throw ModelFileError(
                    file: path, location: "key tokenizer.ggml.model",
                    problem: "tokenizer model \"\(model)\" is not supported; Brigade reads "
                        + Self.supportedTokenizerModels.joined(separator: " and "))
            }
        } catch let error as ModelFileError {
            throw error
        } catch {
            throw ModelFileError(file: path, location: "tokenizer", problem: "\(error)")
        }
    }
}

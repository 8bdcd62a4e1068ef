/// Everything that can go wrong while building or using a tokenizer.
///
/// Each case's ``description`` says what failed, where, and how to fix it.
public enum TokenizationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `tokenizer.ggml.pre` (or an explicit name) names a pre-tokenizer this module does not implement.
    case unknownPreTokenizer(name: String, supported: [String])
    /// The vocabulary arrays passed to ``BPETokenizer/init(tokens:merges:tokenTypes:preTokenizer:specialTokens:addBOS:addEOS:ignoreMerges:)``
    /// are inconsistent (for example token types of a different length than the tokens).
    case invalidVocabulary(String)
    /// A `tokenizer.json` could not be parsed: `path` is the JSON path of the offending value.
    case malformedTokenizerJSON(path: String, reason: String)
    /// A `tokenizer.json` is well formed but uses a component this module does not implement.
    case unsupportedTokenizerConfiguration(path: String, found: String, supported: String)
    /// A token id is negative or not below the vocabulary size.
    case tokenIDOutOfRange(id: Int32, vocabularySize: Int)

    /// What failed, where, and how to fix it.
    public var description: String {
        switch self {
        case let .unknownPreTokenizer(name, supported):
            return "Unknown pre-tokenizer \"\(name)\" (from tokenizer.ggml.pre). Supported names: "
                + supported.joined(separator: ", ")
                + ". Use a model whose tokenizer is one of these, or add the pre-tokenizer to Tokenization/PreTokenizer.swift."
        case let .invalidVocabulary(reason):
            return "Invalid tokenizer vocabulary: \(reason). Check the tokenizer.ggml.* metadata of the model file."
        case let .malformedTokenizerJSON(path, reason):
            return "Malformed tokenizer.json at \(path): \(reason). The file may be truncated or not a Hugging Face tokenizer.json."
        case let .unsupportedTokenizerConfiguration(path, found, supported):
            return "Unsupported tokenizer.json configuration at \(path): found \(found); supported: \(supported)."
        case let .tokenIDOutOfRange(id, vocabularySize):
            return "Token id \(id) is out of range: the vocabulary has \(vocabularySize) tokens (valid ids 0..<\(vocabularySize))."
        }
    }
}

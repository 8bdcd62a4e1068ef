import ChatTemplates
import Foundation
import Tokenization

/// A model with everything needed to go from text to text: weights, tokenizer, chat template, stop tokens.
public struct TextModel: Sendable {
    public var weights: ModelWeights
    public let tokenizer: BPETokenizer
    /// The model's chat template source (GGUF `tokenizer.chat_template` or `tokenizer_config.json`), if any.
    public let chatTemplateSource: String?
    /// Tokens that end generation: the tokenizer's EOS and end-of-turn tokens.
    public let eosTokenIDs: [Int32]
    private let template: ChatTemplate?

    /// Loads `path` (a `.gguf` file or a Hugging Face directory) with its tokenizer and chat template.
    public static func load(_ path: String) throws -> TextModel {
        let weights = try ModelWeights.open(path)
        let tokenizer: BPETokenizer
        let source: String?
        if let gguf = weights.gguf {
            tokenizer = try gguf.tokenizer()
            source = gguf.metadata["tokenizer.chat_template"]?.string
                ?? BuiltinChatTemplates.template { tokenizer.id(forToken: $0) != nil }
        } else if let hf = weights.huggingFace {
            let tokenizerPath = hf.directory + "/tokenizer.json"
            guard let data = MappedFile.regularFileContents(tokenizerPath) else {
                throw ModelFileError(file: tokenizerPath, problem: "cannot read the tokenizer (missing, unreadable or not a regular file)")
            }
            do {
                tokenizer = try BPETokenizer(tokenizerJSON: data)
            } catch {
                throw ModelFileError(file: tokenizerPath, problem: "\(error)")
            }
            source = hf.chatTemplate
        } else {
            throw ModelFileError(file: path, problem: "the model has no tokenizer")
        }
        guard tokenizer.vocabularySize <= weights.config.vocabSize else {
            throw ModelFileError(file: path, location: "tokenizer",
                                 problem: "the tokenizer has \(tokenizer.vocabularySize) tokens but the model only \(weights.config.vocabSize) embeddings")
        }
        var template: ChatTemplate?
        if let source {
            do {
                template = try ChatTemplate(source)
            } catch {
                throw ModelFileError(file: path, location: "chat template", problem: "\(error)")
            }
        }
        return TextModel(weights: weights, tokenizer: tokenizer, chatTemplateSource: source,
                         eosTokenIDs: tokenizer.eosTokenIDs.sorted(), template: template)
    }

    /// Token ids of `text`; special tokens written in the text (e.g. `<|im_start|>`) are recognised when `parseSpecial`.
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int32] {
        tokenizer.encode(text, parseSpecial: parseSpecial)
    }

    /// The prompt text of a conversation, rendered with the model's chat template; `tools` (OpenAI function
    /// definitions) are the template's `tools` variable when given.
    public func renderChat(_ messages: [ChatMessage], tools: [JinjaValue] = [], addGenerationPrompt: Bool = true) throws -> String {
        guard let template else {
            throw ModelFileError(file: "model", location: "chat template", problem: "the model has no chat template; use a plain prompt")
        }
        let tokenText = { (id: Int32?) -> JinjaValue in id.flatMap { tokenizer.tokenString($0) }.map(JinjaValue.string) ?? .none }
        return try template.render(
            messages: messages, addGenerationPrompt: addGenerationPrompt,
            context: ["bos_token": tokenText(tokenizer.specialTokens.bos), "eos_token": tokenText(tokenizer.specialTokens.eos),
                      "tools": tools.isEmpty ? .none : .array(tools)])
    }

    /// Whether the chat template renders tool definitions (reads its `tools` variable).
    public var chatTemplateRendersTools: Bool { chatTemplateSource?.contains("tools") ?? false }

    /// A fresh streaming detokenizer (special tokens left out).
    public func makeDetokenizer() -> StreamingDecoder { StreamingDecoder(tokenizer: tokenizer) }
}

import ChatTemplates
import Engine
import Foundation
import Grammar
import Model
import Server
import Tokenization
import Transport

/// What Brigade reads from untrusted bytes, one entry point each, for libFuzzer (`scripts/fuzz`, `brigade-fuzz`) and
/// for the tests that replay the corpora in `Tests/FuzzTargetsTests/Corpora/<target>/`.
///
/// A target feeds its input through the same public code a user's file or request goes through and returns whether
/// the input was accepted. Rejections are expected; a crash, a hang or a runaway allocation is the finding.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A `.gguf` model file: header, metadata, tensor table, config, tokenizer, chat template and stage weights.
    case gguf
    /// A Hugging Face checkpoint: `config.json`, `model.safetensors` and `tokenizer_config.json` (see ``sections(_:)``).
    case safetensors
    /// A `tokenizer.json`, then encoding and decoding with the tokenizer it describes.
    case tokenizer
    /// A chat template's source, compiled and rendered over a fixed conversation.
    case chatTemplate = "chat-template"
    /// A body sent to `/v1/chat/completions` or `/v1/completions` (the first byte picks which: odd is chat).
    case request
    /// A GBNF grammar, compiled, then matched against its own text and masked over a small vocabulary.
    case gbnf
    /// A JSON schema, compiled to GBNF and to a grammar (regular-expression patterns included).
    case jsonSchema = "json-schema"

    /// The result of one input.
    public enum Outcome: Sendable, Equatable {
        case accepted
        /// The input was refused with this message (what the user would read).
        case rejected(String)
    }

    /// Runs one input through the target.
    public func run(_ input: Data) -> Outcome {
        do {
            switch self {
            case .gguf: try Self.loadGGUF(input)
            case .safetensors: try Self.loadCheckpoint(input)
            case .tokenizer: try Self.loadTokenizer(input)
            case .chatTemplate: try Self.renderTemplate(input)
            case .request: try Self.decodeRequest(input)
            case .gbnf: try Self.compileGrammar(input)
            case .jsonSchema: try Self.compileSchema(input)
            }
            return .accepted
        } catch {
            let message = "\(error)"
            precondition(!message.isEmpty, "\(self): an input was rejected with an empty message")
            return .rejected(message)
        }
    }

    /// The separator between the files of a ``safetensors`` input: `config.json`, `model.safetensors`,
    /// `tokenizer_config.json`, in that order (missing parts are left out of the directory).
    public static let separator = Data("\n--brigade-fuzz-file--\n".utf8)

    /// `input` cut at every ``separator``.
    public static func sections(_ input: Data) -> [Data] {
        var parts: [Data] = []
        var rest = input[...]
        while let range = rest.range(of: separator) {
            parts.append(Data(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(Data(rest))
        return parts
    }

    // MARK: - Targets

    static func loadGGUF(_ input: Data) throws {
        let path = try Scratch.shared.write(input, to: "model.gguf")
        let model = try TextModel.load(path)
        exercise(model.tokenizer)
        if model.chatTemplateSource != nil { _ = try? model.renderChat(conversation) }
        _ = try model.weights.stage()
    }

    static func loadCheckpoint(_ input: Data) throws {
        let names = ["config.json", "model.safetensors", "tokenizer_config.json"]
        let parts = sections(input)
        let directory = try Scratch.shared.directory("checkpoint")
        for (index, name) in names.enumerated() {
            let path = directory + "/" + name
            if index < parts.count { try parts[index].write(to: URL(fileURLWithPath: path)) } else { try? FileManager.default.removeItem(atPath: path) }
        }
        let weights = try ModelWeights.open(directory)
        if let source = weights.huggingFace?.chatTemplate { _ = try ChatTemplate(source) }
        _ = try weights.stage()
    }

    static func loadTokenizer(_ input: Data) throws {
        exercise(try BPETokenizer(tokenizerJSON: input))
    }

    static func renderTemplate(_ input: Data) throws {
        let template = try ChatTemplate(String(decoding: input, as: UTF8.self))
        let limits = TemplateLimits(maxOutputBytes: 1 << 20, maxIterations: 100_000, maxDuration: .seconds(2))
        _ = try template.render(messages: conversation, addGenerationPrompt: true,
                                context: ["bos_token": "<s>", "eos_token": "</s>"],
                                options: RenderOptions(limits: limits, now: Date(timeIntervalSince1970: 0),
                                                       timeZone: TimeZone(identifier: "UTC")!))
    }

    static func decodeRequest(_ input: Data) throws {
        guard let first = input.first else { throw APIError.invalid("body", "empty input") }
        _ = try RequestChecker.shared.server.checkRequest(input.dropFirst(), chat: first & 1 == 1)
    }

    // MARK: - Support

    /// Encodes text with special tokens, multi-byte and invalid-looking sequences, then decodes ids.
    static func exercise(_ tokenizer: BPETokenizer) {
        let ids = tokenizer.encode("Hello wörld! <|im_start|>user\n 日本語 \u{1F600}\t\t  123 <s></s>")
        _ = try? tokenizer.decode(ids)
        let some = (0..<Int32(min(tokenizer.vocabularySize, 64))).map { $0 }
        _ = try? tokenizer.decode(some)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        for id in ids + some + [-1, Int32.max] { _ = try? decoder.append(id) }
        _ = decoder.finish()
    }

    static let conversation = [
        ChatMessage(role: "system", content: "You are helpful."), ChatMessage(role: "user", content: "Hi <b>there</b> \u{1F600}"),
        ChatMessage(role: "assistant", content: "Hello!"), ChatMessage(role: "user", content: "Bye"),
    ]
}

extension FuzzTarget {
    /// A vocabulary of single bytes, JSON pieces and words, for masking what fuzzed grammars allow.
    static let fuzzVocabulary = TokenVocabulary(
        tokens: (0..<256).map { [UInt8($0)] } + ["{\"", "\":", "\",", "true", "null", "  ", "\n", "ab", "é", "😀"].map { Array($0.utf8) },
        size: 270)

    static func compileGrammar(_ input: Data) throws {
        let grammar = try Grammar(gbnf: String(decoding: input, as: UTF8.self))
        exercise(grammar, probe: Array(input.prefix(64)))
    }

    static func compileSchema(_ input: Data) throws {
        let gbnf = try JSONSchemaGrammar.gbnf(schema: String(decoding: input, as: UTF8.self))
        exercise(try Grammar(gbnf: gbnf), probe: Array(input.prefix(64)))
    }

    /// Walks a few bytes through the grammar, taking the masks of the states met.
    static func exercise(_ grammar: Grammar, probe: [UInt8]) {
        let index = GrammarIndex(grammar: grammar, vocabulary: fuzzVocabulary)
        var state = index.initialState()
        for byte in probe {
            _ = index.mask(for: state)
            guard let next = index.advance(state, bytes: [byte]) else { break }
            state = next
        }
    }
}

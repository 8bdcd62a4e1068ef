import Foundation
import Testing
import Tokenization

/// Bad input is reported with typed errors that say where and what, never a crash.
@Suite struct ErrorTests {
    /// A tiny valid byte-level BPE tokenizer.json, as a mutable JSON object.
    static func baseJSON() -> [String: Any] {
        [
            "version": "1.0",
            "added_tokens": [
                ["id": 6, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false,
                 "special": true] as [String: Any]
            ],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true] as [String: Any],
            "post_processor": NSNull(),
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true] as [String: Any],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": ["a": 0, "b": 1, "c": 2, "ab": 3, "Ġ": 4, "Ġab": 5, "<s>": 6] as [String: Any],
                "merges": [["a", "b"], ["Ġ", "ab"]],
            ] as [String: Any],
        ]
    }

    static func tokenizer(_ json: [String: Any]) throws -> BPETokenizer {
        try BPETokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json))
    }

    static func modified(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
        var json = baseJSON()
        change(&json)
        return json
    }

    static func modifiedModel(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
        modified { json in
            var model = json["model"] as! [String: Any]
            change(&model)
            json["model"] = model
        }
    }

    @Test func tinyTokenizerWorks() throws {
        let tokenizer = try Self.tokenizer(Self.baseJSON())
        #expect(tokenizer.encode("ab ab<s>c") == [3, 5, 6, 2])
        #expect(try tokenizer.decode([3, 5, 6, 2]) == "ab ab<s>c")
        #expect(try tokenizer.decode([3, 5, 6, 2], skipSpecial: true) == "ab abc")
        // Bytes without a token are dropped, as in `tokenizers` without an unknown token.
        #expect(tokenizer.encode("xab") == [3])
        let stringMerges = try Self.tokenizer(Self.modifiedModel { $0["merges"] = ["a b", "Ġ ab"] })
        #expect(stringMerges.encode("ab ab") == [3, 5])
    }

    @Test func decodeRejectsOutOfRangeIDs() throws {
        let tokenizer = try Self.tokenizer(Self.baseJSON())
        #expect(throws: TokenizationError.tokenIDOutOfRange(id: 7, vocabularySize: 7)) { try tokenizer.decode([0, 7]) }
        #expect(throws: TokenizationError.tokenIDOutOfRange(id: -3, vocabularySize: 7)) { try tokenizer.decode([-3]) }
        #expect(throws: TokenizationError.tokenIDOutOfRange(id: Int32.max, vocabularySize: 7)) { try tokenizer.decode([Int32.max]) }
        #expect(tokenizer.tokenBytes(7) == nil && tokenizer.tokenString(-1) == nil && !tokenizer.isSpecial(99))
        let message = "\(TokenizationError.tokenIDOutOfRange(id: 7, vocabularySize: 7))"
        #expect(message.contains("7") && message.contains("0..<7"))
    }

    /// Each malformed or unsupported file yields the expected error case at the expected JSON path.
    @Test func malformedAndUnsupportedTokenizerJSON() throws {
        func expectError(_ json: [String: Any], path: String, unsupported: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
            let error = #expect(throws: TokenizationError.self, sourceLocation: sourceLocation) { try Self.tokenizer(json) }
            switch error {
            case let .malformedTokenizerJSON(found, _)? where !unsupported:
                #expect(found == path, sourceLocation: sourceLocation)
            case let .unsupportedTokenizerConfiguration(found, _, _)? where unsupported:
                #expect(found == path, sourceLocation: sourceLocation)
            default:
                Issue.record("unexpected error \(String(describing: error))", sourceLocation: sourceLocation)
            }
        }
        expectError(Self.modified { $0["model"] = nil }, path: "$.model", unsupported: false)
        expectError(Self.modifiedModel { $0["type"] = "WordPiece" }, path: "$.model.type", unsupported: true)
        expectError(Self.modifiedModel { $0["merges"] = 5 }, path: "$.model.merges", unsupported: false)
        expectError(Self.modifiedModel { $0["merges"] = [["a"]] }, path: "$.model.merges[0]", unsupported: false)
        expectError(Self.modifiedModel { $0["merges"] = ["ab"] }, path: "$.model.merges[0]", unsupported: false)
        expectError(Self.modifiedModel { $0["vocab"] = ["a": -1] }, path: "$.model.vocab[\"a\"]", unsupported: false)
        expectError(Self.modifiedModel { $0["vocab"] = ["a": 0, "b": 1_000_000_000] }, path: "$.model.vocab", unsupported: false)
        expectError(Self.modifiedModel { $0["byte_fallback"] = true }, path: "$.model.byte_fallback", unsupported: true)
        expectError(Self.modifiedModel { $0["continuing_subword_prefix"] = "##" }, path: "$.model.continuing_subword_prefix", unsupported: true)
        expectError(Self.modifiedModel { $0["dropout"] = 0.1 }, path: "$.model.dropout", unsupported: true)
        expectError(Self.modifiedModel { $0["unk_token"] = "<unk>" }, path: "$.model.unk_token", unsupported: false)
        expectError(Self.modified { $0["added_tokens"] = [["id": "x", "content": "<s>"]] }, path: "$.added_tokens[0].id", unsupported: false)
        expectError(Self.modified { $0["normalizer"] = ["type": "Lowercase"] }, path: "$.normalizer", unsupported: true)
        // Without a ByteLevel pre-tokenizer the file is read as SentencePiece-style BPE, whose decoder is not ByteLevel.
        expectError(Self.modified { $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁"] }, path: "$.decoder", unsupported: true)
        expectError(Self.modified { $0["pre_tokenizer"] = NSNull() }, path: "$.decoder", unsupported: true)
        expectError(Self.modified { $0["pre_tokenizer"] = ["type": "Whitespace"] }, path: "$.pre_tokenizer", unsupported: true)
        expectError(Self.modified {
            $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true, "use_regex": true] as [String: Any]
        }, path: "$.pre_tokenizer", unsupported: true)
        expectError(Self.modified {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Isolated", "invert": false] as [String: Any],
                ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false] as [String: Any],
            ]] as [String: Any]
        }, path: "$.pre_tokenizer", unsupported: true)
        expectError(Self.modified { $0["decoder"] = NSNull() }, path: "$.decoder", unsupported: true)
        expectError(Self.modified { $0["decoder"] = ["type": "WordPiece"] }, path: "$.decoder", unsupported: true)
        expectError(Self.modified { $0["post_processor"] = ["type": "BertProcessing"] }, path: "$.post_processor", unsupported: true)
        expectError(Self.modified {
            $0["post_processor"] = ["type": "TemplateProcessing", "single": [["SpecialToken": ["id": "<bos>", "type_id": 0]]],
                                    "special_tokens": [:] as [String: Any]] as [String: Any]
        }, path: "$.post_processor.special_tokens[\"<bos>\"]", unsupported: false)
    }

    @Test func notJSONAtAll() {
        for bytes in ["{not json", "[1, 2]", "", "null"] {
            let error = #expect(throws: TokenizationError.self) { try BPETokenizer(tokenizerJSON: Data(bytes.utf8)) }
            guard case .malformedTokenizerJSON(path: "$", _)? = error else {
                Issue.record("\(bytes): unexpected \(String(describing: error))")
                continue
            }
        }
    }

    @Test func mergeWithUnknownTokenIsRejected() {
        let json = Self.modifiedModel { $0["merges"] = [["a", "zz"]] }
        let error = #expect(throws: TokenizationError.self) { try Self.tokenizer(json) }
        guard case let .invalidVocabulary(message)? = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }
        #expect(message.contains("merge #0"))
    }

    @Test func inconsistentGGUFArraysAreRejected() {
        let tokens = ["a", "b", "ab"]
        #expect(throws: TokenizationError.self) {
            try BPETokenizer(tokens: tokens, merges: ["a b"], tokenTypes: [1, 1], preTokenizer: .gpt2)
        }
        #expect(throws: TokenizationError.self) {
            try BPETokenizer(tokens: tokens, merges: ["ab"], preTokenizer: .gpt2)
        }
        #expect(throws: TokenizationError.self) {
            try BPETokenizer(tokens: tokens, merges: ["a c"], preTokenizer: .gpt2)
        }
        #expect(throws: TokenizationError.self) {
            try BPETokenizer(tokens: tokens, merges: [], preTokenizer: .gpt2, specialTokens: SpecialTokenIDs(bos: 3))
        }
        #expect(throws: TokenizationError.self) {
            try BPETokenizer(tokens: tokens, merges: [], preTokenizer: .gpt2, addBOS: true)
        }
        #expect(throws: TokenizationError.unknownPreTokenizer(name: "deepseek-coder", supported: GGUFPreTokenizer.supportedNames)) {
            try BPETokenizer(tokens: tokens, merges: [], tokenTypes: nil, ggufPreTokenizer: "deepseek-coder",
                             specialTokens: SpecialTokenIDs(), addBOS: nil, addEOS: nil)
        }
        let tokenizer = try? BPETokenizer(tokens: tokens, merges: ["a b"], preTokenizer: .gpt2)
        #expect(tokenizer?.encode("abba") == [2, 1, 0])
    }
}

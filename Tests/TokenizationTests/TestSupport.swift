import Foundation
import Testing
import Tokenization

/// The golden data written by `scripts/testdata/tokenizers_golden.py` (run by `scripts/prepare-test-data`).
enum Golden {
    static var directory: URL {
        let root = ProcessInfo.processInfo.environment["BRIGADE_TESTDATA"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/testdata"
        return URL(fileURLWithPath: root).appendingPathComponent("tokenizers")
    }

    struct MissingTestData: Error, CustomStringConvertible {
        let path: String
        var description: String { "missing test data \(path): run scripts/prepare-test-data first" }
    }

    /// The contents of a golden file; a missing file fails the test saying how to create it.
    static func data(_ relativePath: String) throws -> Data {
        let url = directory.appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("missing test data \(url.path): run scripts/prepare-test-data first")
            throw MissingTestData(path: url.path)
        }
        return try Data(contentsOf: url)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ relativePath: String) throws -> T {
        try JSONDecoder().decode(T.self, from: data(relativePath))
    }

    /// The tokenizer arrays of a GGUF file, as dumped by the generator.
    struct Vocabulary: Decodable {
        let tokens: [String]
        let merges: [String]
        let token_types: [Int32]
        let pre: String?
        let bos: Int32?
        let eos: Int32?
        let unk: Int32?
        let pad: Int32?
        let add_bos: Bool?
        let add_eos: Bool?

        /// The tokenizer built as the model loader builds it from GGUF metadata.
        func tokenizer() throws -> BPETokenizer {
            try BPETokenizer(
                tokens: tokens, merges: merges, tokenTypes: token_types, ggufPreTokenizer: pre ?? "",
                specialTokens: SpecialTokenIDs(bos: bos, eos: eos, unknown: unk, padding: pad),
                addBOS: add_bos, addEOS: add_eos)
        }
    }

    struct Row: Decodable, Sendable {
        let text: String
        let ids: [Int32]
        let decoded: String
        let decoded_skip: String
        let ids_json: [Int32]?
    }

    struct Decode: Decodable, Sendable {
        let ids: [Int32]
        let decoded: String
        let decoded_skip: String
    }

    struct Strings: Decodable {
        let strings: [Row]
        let decodes: [Decode]?
    }

    struct Vector: Decodable {
        let text: String
        let ids: [Int32]
    }

    /// A vocabulary with its HF tokenizer.json and golden rows, loaded once per test process.
    struct Fixture: Sendable {
        let fromArrays: BPETokenizer
        let fromJSON: BPETokenizer
        let strings: [Row]
        let decodes: [Decode]
    }

    static func loadFixture(_ name: String) throws -> Fixture {
        let vocabulary = try decode(Vocabulary.self, "\(name)/vocab.json")
        let golden = try decode(Strings.self, "\(name)/golden.json")
        let json = try BPETokenizer(
            tokenizerJSON: data("\(name)/tokenizer.json"),
            specialTokens: SpecialTokenIDs(bos: vocabulary.bos, eos: vocabulary.eos))
        return Fixture(
            fromArrays: try vocabulary.tokenizer(), fromJSON: json, strings: golden.strings, decodes: golden.decodes ?? [])
    }

    static let smolLM2 = Result { try loadFixture("smollm2") }
    static let llama3 = Result { try loadFixture("llama-bpe") }
    static let qwen2 = Result { try loadFixture("qwen2") }
}

/// Exact equality of the Unicode scalars (`==` on `String` is canonical equivalence, which would hide
/// normalization differences).
func identical(_ a: String, _ b: String) -> Bool {
    a.utf8.elementsEqual(b.utf8)
}

/// Compares encodings of many strings and records the first few differences readably.
func expectSameIDs(
    _ label: String, _ rows: [Golden.Row], expected: (Golden.Row) -> [Int32], actual: (String) -> [Int32],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var failures = 0
    for row in rows {
        let want = expected(row)
        let got = actual(row.text)
        if got != want {
            failures += 1
            if failures <= 5 {
                let first = zip(want, got).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(want.count, got.count)
                let from = max(0, first - 4)
                let text = String(reflecting: String(row.text.prefix(120)))
                let expected = Array(want.dropFirst(from).prefix(16))
                let actual = Array(got.dropFirst(from).prefix(16))
                Issue.record(
                    Comment(rawValue: "\(label): \(text)\n  first difference at id #\(first)\n  expected …\(expected)\n  got      …\(actual)"),
                    sourceLocation: sourceLocation)
            }
        }
    }
    #expect(failures == 0, "\(label): \(failures) of \(rows.count) strings differ", sourceLocation: sourceLocation)
}

extension Golden {
    /// The SentencePiece arrays of a GGUF file, as dumped by `scripts/testdata/sentencepiece_golden.py`.
    struct SentencePieceVocabulary: Decodable {
        let tokens: [String]
        let scores: [Float]?
        let token_types: [Int32]?
        let bos: Int32?
        let eos: Int32?
        let unk: Int32?
        let pad: Int32?
        let add_bos: Bool?
        let add_eos: Bool?
        let add_space_prefix: Bool?

        /// The tokenizer built as the model loader builds it from GGUF metadata.
        func tokenizer() throws -> BPETokenizer {
            try BPETokenizer(
                sentencePieceTokens: tokens, scores: scores, tokenTypes: token_types,
                specialTokens: SpecialTokenIDs(bos: bos ?? 1, eos: eos ?? 2, unknown: unk ?? 0, padding: pad),
                addBOS: add_bos, addEOS: add_eos, addSpacePrefix: add_space_prefix)
        }
    }

    static let gemma3 = Result { try decode(SentencePieceVocabulary.self, "gemma-3/spm.json").tokenizer() }
    static let llamaSPM = Result { try decode(SentencePieceVocabulary.self, "llama-spm/spm.json").tokenizer() }
}

import Foundation
import Testing
import Tokenization

/// SentencePiece vocabularies from GGUF, against llama.cpp's own test vectors (llama-spm, phi-3).
@Suite struct SentencePieceVectorTests {
    @Test(arguments: ["llama-spm", "phi-3"])
    func vectorsMatch(vocabulary name: String) throws {
        let tokenizer = try Golden.decode(Golden.SentencePieceVocabulary.self, "\(name)/spm.json").tokenizer()
        let vectors = try Golden.decode([Golden.Vector].self, "\(name)/vectors.json")
        #expect(vectors.count == 46)
        var failures = 0
        for vector in vectors {
            let ids = tokenizer.encode(vector.text, parseSpecial: false, addSpecialTokens: false)
            if ids != vector.ids {
                failures += 1
                Issue.record("\(name): \(String(reflecting: vector.text))\n  expected \(vector.ids)\n  got      \(ids)")
            }
            // llama.cpp adds a space before the text and drops it again when decoding.
            #expect(identical(try tokenizer.decode(ids), vector.text), "\(name): round trip of \(String(reflecting: vector.text))")
        }
        #expect(failures == 0)
    }

    @Test func llamaSpecialTokensAndSpaces() throws {
        let tokenizer = try Golden.llamaSPM.get()
        #expect(tokenizer.preTokenizer == nil)
        #expect(tokenizer.prefixTokenIDs == [1] && tokenizer.suffixTokenIDs.isEmpty)
        #expect(tokenizer.encode("Hello world") == [1, 15043, 3186])
        #expect(tokenizer.encode("") == [1] && tokenizer.encode("", addSpecialTokens: false).isEmpty)
        // A special token is matched only with parseSpecial; the text after it gets the space prefix again.
        #expect(tokenizer.encode("<s>Hello", addSpecialTokens: false) == [1, 15043])
        #expect(tokenizer.encode("<s>Hello", parseSpecial: false, addSpecialTokens: false).first != 1)
        #expect(tokenizer.isSpecial(0) && tokenizer.isSpecial(1) && tokenizer.isSpecial(2))
        #expect(tokenizer.tokenString(13) == "<0x0A>" && tokenizer.tokenBytes(13) == [0x0A])
        #expect(tokenizer.tokenBytes(15043) == Array(" Hello".utf8))
        // Decoding drops the leading space of the first token, unless a BOS comes first.
        #expect(try tokenizer.decode([15043, 3186]) == "Hello world")
        #expect(try tokenizer.decode([1, 15043, 3186], skipSpecial: true) == " Hello world")
        #expect(try tokenizer.decode([1, 15043, 3186]) == "<s> Hello world")
        #expect(tokenizer.eosTokenIDs == [2])
    }

    @Test func byteTokensStreamUTF8Safely() throws {
        let tokenizer = try Golden.llamaSPM.get()
        let text = "🦙 ied 4 ½ months 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ཀ"
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        #expect(ids.contains { tokenizer.tokenString($0)?.hasPrefix("<0x") == true })
        var stream = StreamingDecoder(tokenizer: tokenizer)
        var pieces: [String] = []
        for id in ids { pieces.append(try stream.append(id)) }
        pieces.append(stream.finish())
        #expect(pieces.joined() == (try tokenizer.decode(ids, skipSpecial: true)))
        #expect(identical(pieces.joined(), text))
        #expect(pieces.allSatisfy { !$0.contains("\u{FFFD}") })
    }

    @Test func duplicateAndInconsistentArraysAreRefused() {
        #expect(throws: TokenizationError.self) {
            try BPETokenizer(sentencePieceTokens: ["a", "a"], scores: nil, tokenTypes: nil, specialTokens: SpecialTokenIDs())
        }
        #expect(throws: TokenizationError.self) {
            try BPETokenizer(sentencePieceTokens: ["a", "b"], scores: [0], tokenTypes: nil, specialTokens: SpecialTokenIDs())
        }
        // add_bos_token defaults to true, which needs a BOS id.
        #expect(throws: TokenizationError.self) {
            try BPETokenizer(sentencePieceTokens: ["a", "b"], scores: nil, tokenTypes: nil, specialTokens: SpecialTokenIDs())
        }
    }
}

/// SentencePiece-style `tokenizer.json` files (BPE with byte_fallback) against Hugging Face `tokenizers`.
@Suite struct SentencePieceJSONTests {
    static func fixture(_ directory: String, _ prefix: String = "") throws -> (BPETokenizer, [Golden.Row]) {
        let tokenizer = try BPETokenizer(tokenizerJSON: Golden.data("\(directory)/\(prefix)tokenizer.json"))
        return (tokenizer, try Golden.decode(Golden.Strings.self, "\(directory)/\(prefix)golden.json").strings)
    }

    @Test(arguments: [("llama-spm", ""), ("llama-spm", "metaspace_"), ("gemma-3", "")])
    func encodeAndDecodeMatchHuggingFace(directory: String, prefix: String) throws {
        let (tokenizer, rows) = try Self.fixture(directory, prefix)
        #expect(rows.count > 3000)
        expectSameIDs("\(directory) \(prefix)tokenizer.json", rows, expected: \.ids) {
            tokenizer.encode($0, addSpecialTokens: false)
        }
        var failures = 0
        for row in rows {
            let decoded = try tokenizer.decode(row.ids)
            let skipped = try tokenizer.decode(row.ids, skipSpecial: true)
            if !identical(decoded, row.decoded) || !identical(skipped, row.decoded_skip) {
                failures += 1
                if failures <= 3 {
                    Issue.record("decode of \(String(reflecting: String(row.text.prefix(80)))): \(String(reflecting: String(decoded.prefix(80)))) / \(String(reflecting: String(skipped.prefix(80))))")
                }
            }
            var stream = StreamingDecoder(tokenizer: tokenizer, skipSpecial: true)
            var streamed = ""
            for id in row.ids { streamed += try stream.append(id) }
            streamed += stream.finish()
            if !identical(streamed, skipped) { failures += 1 }
        }
        #expect(failures == 0, "\(failures) decodes differ")
    }
}

/// Gemma 3 270M's vocabulary (262,144 tokens, no space prefix) from its GGUF arrays.
@Suite struct Gemma3TokenizerTests {
    struct LlamaGolden: Decodable {
        struct Row: Decodable {
            let text: String
            let ids: [Int32]
            let parse_special: Bool
        }
        let rows: [Row]
    }

    @Test func loadsQuicklyWithGemmaSettings() throws {
        let data = try Golden.data("gemma-3/spm.json")
        let vocabulary = try JSONDecoder().decode(Golden.SentencePieceVocabulary.self, from: data)
        let clock = ContinuousClock()
        var tokenizer: BPETokenizer?
        let elapsed = clock.measure { tokenizer = try? vocabulary.tokenizer() }
        print("Gemma 3 tokenizer (262,144 tokens) built in \(elapsed)")
        let gemma = try #require(tokenizer)
        #expect(elapsed < .seconds(5))
        #expect(gemma.vocabularySize == 262_144)
        #expect(gemma.prefixTokenIDs == [2])
        #expect(gemma.id(forToken: "<start_of_turn>") == 105 && gemma.id(forToken: "<end_of_turn>") == 106)
        #expect(gemma.eosTokenIDs.isSuperset(of: [1, 106]))
        // No space prefix: "Hello" is the token without "▁".
        let hello = gemma.encode("Hello", addSpecialTokens: false)
        #expect(hello.count == 1 && gemma.tokenString(hello[0]) == "Hello")
        #expect(try gemma.decode(gemma.encode(" Hello")) == "<bos> Hello")
    }

    /// Ids from llama.cpp's `llama-tokenize` on the real GGUF (committed fixture: llama.cpp is not built at test time).
    @Test func matchesLlamaCpp() throws {
        let gemma = try Golden.gemma3.get()
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/gemma3-llama.cpp.json")
        let golden = try JSONDecoder().decode(LlamaGolden.self, from: Data(contentsOf: url))
        #expect(golden.rows.count >= 40)
        var failures = 0
        for row in golden.rows {
            let ids = gemma.encode(row.text, parseSpecial: row.parse_special, addSpecialTokens: true)
            if ids != row.ids {
                failures += 1
                if failures <= 5 { Issue.record("\(String(reflecting: row.text))\n  expected \(row.ids)\n  got      \(ids)") }
            }
            if row.parse_special {
                // Without a space prefix, decoding gives the text back after the BOS.
                #expect(identical(try gemma.decode(ids), "<bos>" + row.text), "round trip of \(String(reflecting: row.text))")
            }
        }
        #expect(failures == 0, "\(failures) of \(golden.rows.count) strings differ from llama.cpp")
    }
}

import Foundation
import Testing
import Tokenization

/// llama.cpp's tokenizer test vectors (ggml-vocab-*.gguf with .inp/.out, produced by the models' HF
/// tokenizers), with the vocabulary passed to the GGUF array initializer.
@Suite struct LlamaCppVectorTests {
    @Test(arguments: ["gpt-2", "llama-bpe", "qwen2", "starcoder", "refact", "command-r", "mpt"])
    func vectorsMatch(vocabulary name: String) throws {
        let vocabulary = try Golden.decode(Golden.Vocabulary.self, "\(name)/vocab.json")
        let vectors = try Golden.decode([Golden.Vector].self, "\(name)/vectors.json")
        let tokenizer = try vocabulary.tokenizer()
        #expect(vectors.count == 46)
        for vector in vectors {
            // The vectors are encoded without BOS/EOS.
            let ids = tokenizer.encode(vector.text, addSpecialTokens: false)
            #expect(ids == vector.ids, "\(name): \(String(reflecting: vector.text))")
            #expect(identical(try tokenizer.decode(ids), vector.text), "\(name): round trip")
        }
    }

    @Test func llama3AddsBOSByDefault() throws {
        let vocabulary = try Golden.decode(Golden.Vocabulary.self, "llama-bpe/vocab.json")
        let tokenizer = try vocabulary.tokenizer()
        #expect(vocabulary.add_bos == nil)
        #expect(tokenizer.prefixTokenIDs == [128000])
        #expect(tokenizer.encode("Hello").first == 128000)
        #expect(tokenizer.eosTokenIDs.contains(128001))
    }

    /// The vocabularies in llama.cpp's test set whose pre-tokenizers are not implemented are refused clearly.
    @Test(arguments: ["deepseek-coder", "deepseek-llm", "falcon", "qwen35", "default", ""])
    func unsupportedPreTokenizersAreRefused(name: String) {
        let error = #expect(throws: TokenizationError.self) { try GGUFPreTokenizer(name: name) }
        guard case let .unknownPreTokenizer(found, supported) = error else {
            Issue.record("expected unknownPreTokenizer, got \(String(describing: error))")
            return
        }
        #expect(found == name && supported.contains("llama-bpe") && supported.contains("smollm"))
        #expect("\(error!)".contains("Supported names:") && "\(error!)".contains("qwen2"))
    }
}

/// Llama 3 and Qwen 2 vocabularies against HF tokenizers built equivalently (Split regex + ByteLevel), on the
/// same varied strings as SmolLM2; their tokenizer.json adds the Llama 3 BOS template / the Qwen 2 NFC step.
@Suite struct LlamaFamilyTests {
    @Test func llama3ArraysMatchHuggingFace() throws {
        let fixture = try Golden.llama3.get()
        expectSameIDs("Llama 3 (GGUF arrays)", fixture.strings, expected: \.ids) {
            fixture.fromArrays.encode($0, addSpecialTokens: false)
        }
    }

    @Test func llama3TokenizerJSONMatchesHuggingFace() throws {
        let fixture = try Golden.llama3.get()
        #expect(fixture.fromJSON.prefixTokenIDs == [128000])
        expectSameIDs("Llama 3 (tokenizer.json, BOS template)", fixture.strings, expected: { $0.ids_json ?? [] }) {
            fixture.fromJSON.encode($0)
        }
    }

    /// Llama 3 has " việc" as one token although merging its bytes by rank gives three.
    @Test func llama3IgnoreMergesTakesWholeWords() throws {
        let vocabulary = try Golden.decode(Golden.Vocabulary.self, "llama-bpe/vocab.json")
        let whole = try Golden.llama3.get().fromArrays
        let merged = try BPETokenizer(tokens: vocabulary.tokens, merges: vocabulary.merges, tokenTypes: vocabulary.token_types,
                                      preTokenizer: .llama3, ignoreMerges: false)
        #expect(whole.encode(" việc", addSpecialTokens: false) == [100769])
        #expect(merged.encode(" việc") == [3355, 26298, 66])
        #expect(try merged.decode([3355, 26298, 66]) == " việc")
    }

    @Test func qwen2ArraysMatchHuggingFace() throws {
        let fixture = try Golden.qwen2.get()
        expectSameIDs("Qwen 2 (GGUF arrays)", fixture.strings, expected: \.ids) { fixture.fromArrays.encode($0) }
    }

    @Test func qwen2TokenizerJSONWithNFCMatchesHuggingFace() throws {
        let fixture = try Golden.qwen2.get()
        expectSameIDs("Qwen 2 (tokenizer.json, NFC)", fixture.strings, expected: { $0.ids_json ?? [] }) {
            fixture.fromJSON.encode($0)
        }
    }

    @Test func decodeMatchesHuggingFace() throws {
        for fixture in [try Golden.llama3.get(), try Golden.qwen2.get()] {
            var failures = 0
            for row in fixture.strings {
                if !identical(try fixture.fromArrays.decode(row.ids), row.decoded) { failures += 1 }
                if !identical(try fixture.fromArrays.decode(row.ids, skipSpecial: true), row.decoded_skip) { failures += 1 }
            }
            #expect(failures == 0)
        }
    }

    @Test func userDefinedTokensAreMatchedEvenWithoutParseSpecial() throws {
        let tokenizer = try Golden.qwen2.get().fromArrays
        let pad = try #require(tokenizer.id(forToken: "[PAD151646]"))
        let imStart = try #require(tokenizer.id(forToken: "<|im_start|>"))
        #expect(!tokenizer.isSpecial(pad) && tokenizer.isSpecial(imStart))
        let ids = tokenizer.encode("x[PAD151646]<|im_start|>", parseSpecial: false)
        #expect(ids.contains(pad) && !ids.contains(imStart))
        #expect(tokenizer.eosTokenIDs == [151643, 151645])
    }
}

import Foundation
import Testing
import Tokenization

/// SmolLM2's tokenizer against Hugging Face `tokenizers` on a few thousand varied strings.
@Suite struct SmolLM2Tests {
    let fixture: Golden.Fixture

    init() throws {
        fixture = try Golden.smolLM2.get()
    }

    @Test func chatPromptEncodesToKnownIDs() {
        let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        let expected: [Int32] = [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
        #expect(fixture.fromArrays.encode(prompt) == expected)
        #expect(fixture.fromJSON.encode(prompt) == expected)
    }

    @Test func arrayInitializerMatchesHuggingFace() {
        let tokenizer = fixture.fromArrays
        expectSameIDs("SmolLM2 (GGUF arrays)", fixture.strings, expected: \.ids) { tokenizer.encode($0) }
    }

    @Test func tokenizerJSONMatchesHuggingFace() {
        let tokenizer = fixture.fromJSON
        expectSameIDs("SmolLM2 (tokenizer.json)", fixture.strings, expected: \.ids) { tokenizer.encode($0) }
    }

    @Test func decodeMatchesHuggingFace() throws {
        var failures = 0
        for row in fixture.strings {
            let decoded = try fixture.fromArrays.decode(row.ids, skipSpecial: false)
            let skipped = try fixture.fromArrays.decode(row.ids, skipSpecial: true)
            if !identical(decoded, row.decoded) || !identical(skipped, row.decoded_skip) { failures += 1 }
        }
        #expect(failures == 0)
        // Byte-level BPE loses only the bytes the vocabulary has no one-byte token for (SmolLM2 lacks some
        // lead bytes of astral characters; `tokenizers` drops them too). Every other string comes back whole.
        let tokenizer = fixture.fromArrays
        let coveredBytes = Set((0..<Int32(tokenizer.vocabularySize)).compactMap { id -> UInt8? in
            guard let bytes = tokenizer.tokenBytes(id), bytes.count == 1 else { return nil }
            return bytes[0]
        })
        #expect(coveredBytes.count >= 235)
        let covered = fixture.strings.filter { $0.text.utf8.allSatisfy(coveredBytes.contains) }
        #expect(covered.count > fixture.strings.count * 3 / 4)
        for row in covered {
            #expect(identical(try tokenizer.decode(tokenizer.encode(row.text)), row.text))
        }
    }

    @Test func decodingArbitraryIDsReplacesInvalidUTF8AsHuggingFace() throws {
        #expect(fixture.decodes.count > 100)
        for row in fixture.decodes {
            #expect(identical(try fixture.fromArrays.decode(row.ids, skipSpecial: false), row.decoded), "\(row.ids)")
            #expect(identical(try fixture.fromJSON.decode(row.ids, skipSpecial: true), row.decoded_skip), "\(row.ids)")
        }
    }

    @Test func specialTokensAreTextWithoutParseSpecial() throws {
        let tokenizer = fixture.fromArrays
        let text = "<|im_start|>user<|im_end|>"
        let ids = tokenizer.encode(text, parseSpecial: false)
        #expect(!ids.contains(1) && !ids.contains(2))
        #expect(identical(try tokenizer.decode(ids), text))
        #expect(tokenizer.encode(text) == [1, 4093, 2])
    }

    @Test func vocabularyQueries() throws {
        let tokenizer = fixture.fromArrays
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.tokenString(1) == "<|im_start|>")
        #expect(tokenizer.id(forToken: "<|im_end|>") == 2)
        #expect(tokenizer.tokenString(4093) == "user")
        #expect(tokenizer.tokenString(198) == "Ċ")
        #expect(tokenizer.tokenBytes(198) == [0x0A])
        #expect(tokenizer.tokenString(49152) == nil && tokenizer.tokenString(-1) == nil)
        #expect(tokenizer.isSpecial(1) && tokenizer.isSpecial(0) && !tokenizer.isSpecial(4093))
        #expect(tokenizer.eosTokenIDs == [0, 2])
        #expect(tokenizer.specialTokens.bos == 1 && tokenizer.specialTokens.eos == 2)
        #expect(tokenizer.prefixTokenIDs.isEmpty)
        #expect(tokenizer.preTokenizer == .smollm)
        #expect(try tokenizer.decode([1, 4093, 2], skipSpecial: true) == "user")
        #expect(fixture.fromJSON.vocabularySize == 49152)
    }
}

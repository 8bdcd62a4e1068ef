import Foundation
import Testing
import Tokenization

/// Added tokens with `lstrip`, `rstrip`, `single_word` and `normalized` (from a tokenizer.json) against HF.
@Suite struct AddedTokenTests {
    @Test func flagsMatchHuggingFace() throws {
        let tokenizer = try BPETokenizer(tokenizerJSON: Golden.data("smollm2/flags_tokenizer.json"))
        let golden = try Golden.decode(Golden.Strings.self, "smollm2/flags_golden.json")
        #expect(golden.strings.count > 400)
        expectSameIDs("added-token flags", golden.strings, expected: \.ids) { tokenizer.encode($0) }
        for row in golden.strings {
            #expect(identical(try tokenizer.decode(row.ids), row.decoded))
            #expect(identical(try tokenizer.decode(row.ids, skipSpecial: true), row.decoded_skip))
        }
        let mask = try #require(tokenizer.id(forToken: "<mask>"))
        #expect(tokenizer.isSpecial(mask))
        #expect(tokenizer.addedTokens.contains { $0.content == "[R]" && $0.rstrip && !$0.special })
    }
}

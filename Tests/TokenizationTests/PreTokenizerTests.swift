import Foundation
import Testing
import Tokenization

/// The hand-written pre-tokenizers against the regexes of Hugging Face `tokenizers` (Oniguruma), on text made
/// of every Unicode scalar below U+20000 (and a sample above) mixed with probe characters: this pins down
/// exactly which scalars are `\p{L}`, `\p{N}` and `\s`, and the case folding of `(?i:'s|...)`.
@Suite struct PreTokenizerTests {
    struct Splits: Decodable {
        let texts: [String]
        let gpt2: [String]
        let smollm: [String]
        let llama3: [String]
        let qwen2: [String]
    }

    @Test(arguments: PreTokenizer.allCases)
    func splitsEveryScalarAsHuggingFace(preTokenizer: PreTokenizer) throws {
        let golden = try Golden.decode(Splits.self, "pretokenize.json")
        let expected: [String] = switch preTokenizer {
        case .gpt2: golden.gpt2
        case .smollm: golden.smollm
        case .llama3: golden.llama3
        case .qwen2: golden.qwen2
        }
        try #require(expected.count == golden.texts.count)
        var failures = 0
        for (text, lengths) in zip(golden.texts, expected) {
            let want = lengths.split(separator: " ").map { Int($0) ?? -1 }
            let got = preTokenizer.split(text).map(\.unicodeScalars.count)
            guard got != want else { continue }
            failures += 1
            if failures <= 3 {
                // Show the first differing piece.
                let scalars = Array(text.unicodeScalars)
                var offset = 0
                for (index, (a, b)) in zip(want, got).enumerated() {
                    guard a == b else {
                        let context = scalars[offset..<min(scalars.count, offset + max(a, b) + 2)]
                            .map { String(format: "U+%04X", $0.value) }.joined(separator: " ")
                        Issue.record("\(preTokenizer): piece \(index) at scalar \(offset): expected length \(a), got \(b): \(context)")
                        break
                    }
                    offset += a
                }
            }
        }
        #expect(failures == 0, "\(preTokenizer): \(failures) of \(golden.texts.count) texts split differently")
    }

    @Test func splitsKnownExamples() {
        #expect(PreTokenizer.gpt2.split("Hello  world's 123!!\n\n x") == ["Hello", " ", " world", "'s", " 123", "!!", "\n\n", " x"])
        #expect(PreTokenizer.smollm.split("abc 123 def") == ["abc", " ", "1", "2", "3", " def"])
        #expect(PreTokenizer.llama3.split("I'LL pay 12345 $ \n\n  x") == ["I", "'LL", " pay", " ", "123", "45", " $", " \n\n", " ", " x"])
        #expect(PreTokenizer.qwen2.split("x12") == ["x", "1", "2"])
        #expect(PreTokenizer.llama3.split("") == [])
    }
}

import Foundation
import Testing
import Tokenization

/// Streaming detokenization: pieces never break a character and add up to the full decode.
@Suite struct StreamingDecoderTests {
    /// Feeds the ids one by one; returns the pieces (the last one from `finish()`).
    static func stream(_ ids: [Int32], _ tokenizer: BPETokenizer, skipSpecial: Bool) throws -> [String] {
        var decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecial: skipSpecial)
        var pieces = try ids.map { id throws(TokenizationError) in try decoder.append(id) }
        pieces.append(decoder.finish())
        return pieces
    }

    @Test func streamEqualsFullDecodeOnGoldenStrings() throws {
        let fixture = try Golden.smolLM2.get()
        var failures = 0
        for row in fixture.strings {
            let pieces = try Self.stream(row.ids, fixture.fromArrays, skipSpecial: false)
            if !identical(pieces.joined(), row.decoded) { failures += 1 }
            // The text round-trips, so no piece may hold a replacement character for a split sequence.
            // (Scalars, not Characters: a U+FFFD followed by a combining mark is one Character.)
            if identical(row.decoded, row.text), !row.text.unicodeScalars.contains("\u{FFFD}"),
                pieces.contains(where: { $0.unicodeScalars.contains("\u{FFFD}") })
            {
                failures += 1
            }
        }
        #expect(failures == 0)
    }

    @Test func streamReplacesInvalidBytesAsHuggingFace() throws {
        let fixture = try Golden.smolLM2.get()
        for row in fixture.decodes {
            #expect(identical(try Self.stream(row.ids, fixture.fromArrays, skipSpecial: false).joined(), row.decoded), "\(row.ids)")
            #expect(identical(try Self.stream(row.ids, fixture.fromArrays, skipSpecial: true).joined(), row.decoded_skip), "\(row.ids)")
        }
    }

    @Test func emojiAndCJKArriveWhole() throws {
        let tokenizer = try Golden.smolLM2.get().fromArrays
        for text in ["🦙", "👨‍👩‍👧‍👦", "天气很好", "🇫🇷 ok", "naïve 😶‍🌫️"] {
            let ids = tokenizer.encode(text)
            let pieces = try Self.stream(ids, tokenizer, skipSpecial: true)
            #expect(identical(pieces.joined(), text))
            #expect(pieces.allSatisfy { !$0.unicodeScalars.contains("\u{FFFD}") })
            #expect(pieces.last == "", "finish() has nothing left")
        }
        // The llama emoji is four byte tokens: nothing comes out until the last one.
        let llama = tokenizer.encode("🦙")
        try #require(llama.count > 1)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        for id in llama.dropLast() {
            #expect(try decoder.append(id) == "")
            #expect(decoder.hasPendingBytes)
        }
        #expect(try decoder.append(llama.last!) == "🦙")
        #expect(!decoder.hasPendingBytes)
    }

    @Test func unfinishedCharacterBecomesReplacementOnFinish() throws {
        let tokenizer = try Golden.smolLM2.get().fromArrays
        let ids = tokenizer.encode("🦙")
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        #expect(try decoder.append(ids[0]) == "")
        #expect(decoder.finish() == "\u{FFFD}")
        #expect(try tokenizer.decode([ids[0]]) == "\u{FFFD}")
        // finish() resets the decoder.
        #expect(try decoder.append(tokenizer.encode("a")[0]) == "a")
    }

    @Test func outOfRangeIDThrowsAndLeavesTheStreamIntact() throws {
        let tokenizer = try Golden.smolLM2.get().fromArrays
        let ids = tokenizer.encode("🦙")
        try #require(ids.count > 1)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        _ = try decoder.append(ids[0])
        #expect(throws: TokenizationError.tokenIDOutOfRange(id: 49152, vocabularySize: 49152)) { try decoder.append(49152) }
        #expect(throws: TokenizationError.tokenIDOutOfRange(id: -1, vocabularySize: 49152)) { try decoder.append(-1) }
        let rest = try ids.dropFirst().map { id throws(TokenizationError) in try decoder.append(id) }.joined()
        #expect(rest + decoder.finish() == "🦙")
    }
}
